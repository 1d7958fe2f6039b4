//! What a cell body reads: the plan, the output folder, the data's root, the device.

use super::device::Device;
use super::error::CellError;
use super::store::{Damage, Done, Store};
use crate::data::DataContext;
use crate::diagnostics::Code;
use crate::plan::{Cell, Plan};
use crate::study::Study;
use std::collections::HashMap;
use std::path::Path;

/// Everything a cell reads: the plan, the output folder, the data's root, the device.
pub struct Ctx<'a> {
    pub plan: &'a Plan,
    pub store: &'a Store,
    pub data: DataContext,
    pub device: &'a Device,
    pub bars: Option<&'a indicatif::MultiProgress>,
    by_name: HashMap<&'a str, &'a Cell>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        plan: &'a Plan,
        store: &'a Store,
        root: &Path,
        device: &'a Device,
        bars: Option<&'a indicatif::MultiProgress>,
    ) -> Self {
        Ctx {
            plan,
            store,
            data: DataContext {
                root: root.to_path_buf(),
                seed: plan.study.seed,
            },
            device,
            bars,
            by_name: plan.cells.iter().map(|c| (c.name.as_str(), c)).collect(),
        }
    }

    pub fn study(&self) -> &'a Study {
        &self.plan.study
    }

    pub fn cell(&self, name: &str) -> Result<&'a Cell, CellError> {
        self.by_name.get(name).copied().ok_or_else(|| {
            CellError::fault(
                Code::CorruptOutput,
                format!("the plan has no cell `{name}`"),
            )
        })
    }

    /// A dependency's output file.
    pub fn read<T: serde::de::DeserializeOwned>(
        &self,
        cell: &str,
        file: &str,
    ) -> Result<T, CellError> {
        let (c, done) = self.finished(cell)?;
        self.store.read_verified(c, &done, file)
    }

    /// The bytes of a dependency's output file (a network: at most `limit`), checked against its hash.
    pub fn read_bytes(&self, cell: &str, file: &str, limit: u64) -> Result<Vec<u8>, CellError> {
        let (c, done) = self.finished(cell)?;
        self.store.read_checked(c, &done, file, limit)
    }

    /// A dependency and its done record, or why it cannot be read.
    fn finished(&self, cell: &str) -> Result<(&Cell, Done), CellError> {
        let c = self.cell(cell)?;
        let done = self.store.verify(c).map_err(|damage| {
            let why = match damage {
                Damage::NotFinished => "has not finished".to_string(),
                other => format!("cannot be used: {other}"),
            };
            CellError::fault(Code::CorruptOutput, format!("cell `{cell}` {why}"))
                .help("run the study again: cells that did not finish, or whose outputs changed, are recomputed")
        })?;
        Ok((c, done))
    }
}
