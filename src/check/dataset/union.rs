//! Unions of datasets.

use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Value};

impl Checker<'_> {
    pub(in crate::check) fn union_dataset(
        &mut self,
        decl: &Decl,
        call: Option<&ast::Call>,
        origin: Origin,
    ) -> Option<Dataset> {
        let Some(call) = call.filter(|c| c.args.len() >= 2) else {
            let at = decl.value.as_ref().map_or(decl.span, Value::span);
            self.error(
                Diagnostic::new(Code::MissingEntry, "a union combines at least two datasets")
                    .at(at, "too few datasets")
                    .help("write `dataset all = union(a, b)`"),
            );
            return None;
        };
        if let Some(block) = &decl.block {
            self.error(
                Diagnostic::new(Code::UnknownEntry, "a union has no block")
                    .at(block.span, "not allowed")
                    .help("set entries on the datasets it combines"),
            );
        }
        let mut parts = Vec::new();
        for arg in &call.args {
            if let Some(n) = &arg.name {
                self.error(
                    Diagnostic::new(Code::UnknownEntry, "union arguments are dataset names")
                        .at(n.span, "unexpected name")
                        .help("write `union(a, b)`"),
                );
                continue;
            }
            if let Some(part) = self.reference_value(&arg.value, DeclKind::Dataset) {
                if parts.contains(&part) {
                    self.error(
                        Diagnostic::new(
                            Code::DuplicateEntry,
                            format!("`{part}` appears twice in the union"),
                        )
                        .at(arg.span, "again here"),
                    );
                }
                parts.push(part);
            }
        }
        if parts.len() != call.args.len() {
            return None;
        }
        let known: Vec<Option<&Dataset>> =
            parts.iter().map(|p| self.study.datasets.get(p)).collect();
        let merge = |f: &dyn Fn(&Dataset) -> Option<&Vec<String>>| -> Option<Vec<String>> {
            let mut out: Vec<String> = Vec::new();
            for d in &known {
                for x in f((*d)?)? {
                    if !out.contains(x) {
                        out.push(x.clone());
                    }
                }
            }
            Some(out)
        };
        let classes = merge(&|d| d.classes.as_ref());
        let sources = merge(&|d| d.sources.as_ref());
        // A union has masks when every part has them (where they come from stays per part).
        let all_masks = known.iter().all(|d| d.is_some_and(|d| d.masks.is_some()));
        let masks = if all_masks {
            known.first().and_then(|d| d.and_then(|d| d.masks.clone()))
        } else {
            None
        };
        Some(Dataset {
            origin,
            source: DatasetSource::Union { parts },
            classes,
            sources,
            masks,
            on_error: OnError::Fail,
            max_pixels: None,
        })
    }
}
