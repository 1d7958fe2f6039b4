//! The checked study: every name resolved, every value typed and in range. Produced by `check`, consumed
//! by `plan` and everything after it. Nothing in here can be wrong because of the study text any more;
//! each declaration keeps its `Origin` so later failures (data, training) can still name it.

mod data;
mod experiment;
mod learning;

pub use data::*;
pub use experiment::*;
pub use learning::*;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Where a declaration was written. Not part of the study's meaning (the fingerprint ignores it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Origin {
    /// `file:line:column`
    pub location: String,
    /// The declaration's name in the sources it was checked from (for diagnostics in the same process).
    #[serde(skip)]
    pub span: Option<crate::source::Span>,
}

/// Origins compare by location: the in-process span is a handle, not content.
impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.location == other.location
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Study {
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub repeats: u32,
    /// Output directory, relative to the root study file's directory.
    pub output: String,
    /// The most models the study may train (`max_trainings` in the header); `None` is
    /// `DEFAULT_MAX_TRAININGS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_trainings: Option<u64>,
    pub datasets: IndexMap<String, Dataset>,
    pub segmenters: IndexMap<String, Segmenter>,
    pub crops: IndexMap<String, Crop>,
    pub preprocessings: IndexMap<String, Preprocess>,
    pub models: IndexMap<String, Model>,
    pub trainings: IndexMap<String, Training>,
    pub splits: IndexMap<String, Split>,
    pub experiments: IndexMap<String, Experiment>,
    pub probes: IndexMap<String, Probe>,
    pub hypotheses: IndexMap<String, Hypothesis>,
    pub report: Report,
}

/// A study that would train more models than this is refused before anything is planned (E0036): a grid
/// or a repeat count written by mistake would otherwise take days and gigabytes without a word.
pub const DEFAULT_MAX_TRAININGS: u64 = 10_000;

impl Study {
    /// The most models this study may train.
    pub fn training_limit(&self) -> u64 {
        self.max_trainings.unwrap_or(DEFAULT_MAX_TRAININGS)
    }
}
