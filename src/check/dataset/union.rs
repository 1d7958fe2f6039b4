//! Unions of datasets, and the order datasets are checked in (parts before the unions of them).

use crate::check::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Value};
use std::collections::HashMap;

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

    /// The dataset declarations in the order to check them: every union after the datasets it combines
    /// (whatever order the file gives), so that it inherits their sources, classes and masks. Unions that
    /// contain themselves are reported (E0031). Linear in the number of datasets (Tarjan's components).
    pub(in crate::check) fn dataset_order<'d>(&mut self, decls: &[&'d Decl]) -> Vec<&'d Decl> {
        use petgraph::graph::{DiGraph, NodeIndex};
        let datasets: Vec<&Decl> = decls
            .iter()
            .copied()
            .filter(|d| d.kind == DeclKind::Dataset)
            .collect();
        let mut graph = DiGraph::<usize, ()>::with_capacity(datasets.len(), datasets.len());
        let nodes: Vec<NodeIndex> = (0..datasets.len()).map(|i| graph.add_node(i)).collect();
        let mut by_name: HashMap<&str, NodeIndex> = HashMap::new();
        for (decl, node) in datasets.iter().zip(&nodes) {
            if let Some(name) = &decl.name {
                by_name.entry(name.name.as_str()).or_insert(*node);
            }
        }
        for (decl, node) in datasets.iter().zip(&nodes) {
            let Some(Value::Call(call)) = &decl.value else {
                continue;
            };
            if call.name.name != "union" {
                continue;
            }
            for arg in &call.args {
                if let Some(part) = arg
                    .value
                    .as_ident()
                    .and_then(|p| by_name.get(p.name.as_str()))
                {
                    graph.add_edge(*node, *part, ());
                }
            }
        }
        // Components come out parts first (a reverse topological order).
        let components = petgraph::algo::tarjan_scc(&graph);
        let mut order = Vec::with_capacity(datasets.len());
        for component in components {
            let cyclic = component.len() > 1 || graph.contains_edge(component[0], component[0]);
            for node in component {
                let decl = datasets[graph[node]];
                if cyclic && let Some(name) = &decl.name {
                    self.error(
                        Diagnostic::new(
                            Code::Cycle,
                            format!("dataset `{}` contains itself", name.name),
                        )
                        .at(
                            decl.value.as_ref().map_or(name.span, Value::span),
                            "this union reaches itself",
                        )
                        .help("a union may only combine other datasets"),
                    );
                }
                order.push(decl);
            }
        }
        order
    }
}
