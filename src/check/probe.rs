//! Probes: predictability of a target, occlusion, gap, association, metadata baseline, fine-tuning,
//! saliency.

use crate::check::Checker;
use crate::check::grid::unique;
use crate::check::values::{Entries, decl_owner};
use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Value};
use indexmap::IndexMap;

pub(in crate::check) fn split_name(splits: &IndexMap<String, Split>, split: &Split) -> String {
    splits
        .iter()
        .find(|(_, s)| *s == split)
        .map(|(n, _)| n.clone())
        .unwrap_or_default()
}

impl Checker<'_> {
    pub(in crate::check) fn probe(&mut self, decl: &Decl) -> Option<Probe> {
        let options = [
            "predict",
            "occlusion",
            "gap",
            "association",
            "metadata_baseline",
            "finetune",
            "saliency",
        ];
        let (variant, call) = self.variant(decl, &options, "probe source_probe = predict(source) { model small, crop full, split s, preprocess p, train t }")?;
        let kind = variant.name.as_str();
        let owner = decl_owner(decl);
        let setup_keys = ["model", "crop", "split", "preprocess", "train"];
        let allowed: Vec<&str> = match kind {
            "predict" => setup_keys.to_vec(),
            "occlusion" => ["crops", "model", "split", "preprocess", "train"].to_vec(),
            "gap" => vec!["at", "metric", "against"],
            "association" => vec!["within"],
            "metadata_baseline" => vec!["split"],
            "finetune" => vec!["at", "sizes", "epochs"],
            _ => vec!["at", "samples", "masks"],
        };
        let e = self.block_entries(decl, &owner, &allowed);
        let empty = ast::Call {
            name: variant.clone(),
            args: vec![],
            span: variant.span,
        };
        let call = call.unwrap_or(&empty);
        let origin = self.origin(decl.name_span());
        let probe = match kind {
            "predict" => {
                let args = self.args(call, "`predict`", &["target"], 1);
                let Some(target_value) = args.get("target") else {
                    self.missing(call.span, "`predict`", "target", "predict(source)");
                    return None;
                };
                let setup = self.setup(&e, &owner, None)?;
                let target = self.target(target_value, &setup.split)?;
                ProbeKind::Predict { target, setup }
            }
            "occlusion" => {
                if !call.args.is_empty() {
                    self.error(
                        Diagnostic::new(Code::UnknownEntry, "`occlusion` takes no arguments")
                            .at(call.span, "arguments not allowed")
                            .help("list the crops in the block: crops [full, lungs, lungs_out]"),
                    );
                    return None;
                }
                let Some(crops_value) = e.get("crops").and_then(|c| self.one(c)) else {
                    if !e.has("crops") {
                        self.missing(
                            e.span,
                            &owner,
                            "crops",
                            "crops [full, lung_field, lungs_out]",
                        );
                    }
                    return None;
                };
                let mut crops = Vec::new();
                let mut written = Vec::new();
                for c in self.list(crops_value) {
                    let crop = self.reference_value(c, DeclKind::Crop)?;
                    written.push((crop.clone(), c.span()));
                    crops.push(crop);
                }
                if !self.no_repeats(&written, "crop") {
                    return None;
                }
                if crops.len() < 2 {
                    self.out_of_range(
                        crops_value.span(),
                        "an occlusion probe compares at least two crops".into(),
                        "for example: crops [full, lungs_out]",
                    );
                    return None;
                }
                let setup = self.setup(&e, &owner, Some(crops[0].clone()))?;
                for crop in &crops {
                    let s = Setup {
                        crop: crop.clone(),
                        ..setup.clone()
                    };
                    if !self.report_setup(&s, decl.name_span()) {
                        return None;
                    }
                }
                ProbeKind::Occlusion { crops, setup }
            }
            "gap" => {
                let (experiment, point) = self.experiment_argument(call, &e, "gap")?;
                let metric = match e.get("metric").and_then(|m| self.one(m)) {
                    Some(v) => self.metric(v, false)?,
                    None => Metric::Auc,
                };
                let exp = self.study.experiments.get(&experiment)?;
                let evaluated = exp.evaluate.clone();
                if !exp.measures.contains(&metric) {
                    let at = e.get("metric").map_or(call.span, |m| m.span);
                    self.error(
                        Diagnostic::new(
                            Code::IncompatibleChoice,
                            format!(
                                "experiment `{experiment}` does not measure {}",
                                metric.name()
                            ),
                        )
                        .at(at, "metric not measured")
                        .help(format!(
                            "add {} to the experiment's `measure` list",
                            metric.name()
                        )),
                    );
                    return None;
                }
                // The unseen side: the `unseen` partition, or a test set the experiment evaluates.
                let against = match e.get("against").and_then(|a| self.one(a)) {
                    Some(v) => {
                        let name = self.ident(v, "a test set")?.name.clone();
                        if !evaluated.contains(&name) {
                            self.error(
                                Diagnostic::new(Code::UnknownPartition, format!("experiment `{experiment}` does not evaluate on `{name}`"))
                                    .at(v.span(), "not evaluated")
                                    .help(format!("add `{name}` to the experiment's `evaluate` list (a test set of its split)")),
                            );
                            return None;
                        }
                        Some(name)
                    }
                    None => None,
                };
                let unseen_side = against.clone().unwrap_or_else(|| "unseen".into());
                let no_unseen_source = self.result_splits(&experiment).into_iter().find(|s| {
                    self.partition_sources(s, Some(&unseen_side))
                        .is_some_and(|sources| sources.is_empty())
                });
                if let Some(split) = no_unseen_source {
                    self.error(
                        Diagnostic::new(Code::UnknownPartition, format!("split `{split}` has no `{unseen_side}` sources for the gap to measure"))
                            .at(call.span, "nothing on the unseen side")
                            .help("list the held-out sources in the split's `unseen`"),
                    );
                    return None;
                }
                for needed in ["seen", unseen_side.as_str()] {
                    if !evaluated.iter().any(|p| p == needed) {
                        self.error(
                            Diagnostic::new(Code::UnknownPartition, format!("experiment `{experiment}` does not evaluate on `{needed}`"))
                                .at(call.span, "a gap compares seen and unseen")
                                .help("use a by_source or leave_one_source_out split and evaluate [seen, unseen]"),
                        );
                        return None;
                    }
                }
                ProbeKind::Gap {
                    experiment,
                    point,
                    metric,
                    against,
                }
            }
            "association" => {
                let args = self.args(call, "`association`", &["first", "second"], 2);
                let (Some(a), Some(b)) = (args.get("first"), args.get("second")) else {
                    self.missing(
                        call.span,
                        "`association`",
                        "two variables",
                        "association(label, source)",
                    );
                    return None;
                };
                let first = self.ident(a, "a variable")?.name.clone();
                let second = self.ident(b, "a variable")?.name.clone();
                if first == second {
                    self.error(
                        Diagnostic::new(
                            Code::IncompatibleChoice,
                            format!("`{first}` is associated with itself"),
                        )
                        .at(b.span(), "the same variable again")
                        .also(a.span(), "first variable")
                        .help("an association compares two different variables, for example association(label, source)"),
                    );
                    return None;
                }
                let Some(within) = e.get("within").and_then(|w| self.one(w)) else {
                    if !e.has("within") {
                        self.missing(e.span, &owner, "within", "within my_split.train");
                    }
                    return None;
                };
                let (split, partition) = self.split_partition(within)?;
                for (v, name) in [(a, &first), (b, &second)] {
                    self.check_variable(name, v.span(), &split)?;
                }
                ProbeKind::Association {
                    first,
                    second,
                    split,
                    partition,
                }
            }
            "metadata_baseline" => {
                let mut features = Vec::new();
                for arg in &call.args {
                    if let Some(n) = &arg.name {
                        self.error(
                            Diagnostic::new(
                                Code::UnknownEntry,
                                "metadata features are listed without names",
                            )
                            .at(n.span, "unexpected name"),
                        );
                        return None;
                    }
                    features.push(self.ident(&arg.value, "a metadata feature")?.clone());
                }
                let written: Vec<(String, crate::source::Span)> =
                    features.iter().map(|f| (f.name.clone(), f.span)).collect();
                if !self.no_repeats(&written, "feature") {
                    return None;
                }
                if features.is_empty() {
                    self.missing(
                        call.span,
                        "`metadata_baseline`",
                        "features",
                        "metadata_baseline(source, age, sex, view)",
                    );
                    return None;
                }
                let Some(split_value) = e.get("split").and_then(|s| self.one(s)) else {
                    if !e.has("split") {
                        self.missing(e.span, &owner, "split", "split my_split");
                    }
                    return None;
                };
                let split = self.reference_value(split_value, DeclKind::Split)?;
                for f in &features {
                    if f.name == "label" {
                        self.error(
                            Diagnostic::new(
                                Code::IncompatibleChoice,
                                "the label is what the baseline predicts",
                            )
                            .at(f.span, "not a feature")
                            .help("list metadata such as source, age, sex, view"),
                        );
                        return None;
                    }
                    self.check_variable(&f.name, f.span, &split)?;
                }
                ProbeKind::MetadataBaseline {
                    features: features.into_iter().map(|f| f.name).collect(),
                    split,
                }
            }
            "finetune" => {
                let (experiment, point) = self.experiment_argument(call, &e, "finetune")?;
                let Some(sizes_value) = e.get("sizes").and_then(|s| self.one(s)) else {
                    if !e.has("sizes") {
                        self.missing(e.span, &owner, "sizes", "sizes [5, 10, 20]");
                    }
                    return None;
                };
                let sizes: Vec<u32> = self
                    .list(sizes_value)
                    .iter()
                    .map(|v| self.count(v, "a number of images", 1, 100_000))
                    .collect::<Option<_>>()?;
                let written: Vec<(String, crate::source::Span)> = self
                    .list(sizes_value)
                    .iter()
                    .zip(&sizes)
                    .map(|(v, n)| (n.to_string(), v.span()))
                    .collect();
                if !self.no_repeats(&written, "size") {
                    return None;
                }
                let epochs = match e.get("epochs").and_then(|x| self.one(x)) {
                    Some(v) => self.count(v, "the fine-tuning epochs", 1, 100_000)?,
                    None => 5,
                };
                let exp = self.study.experiments.get(&experiment)?;
                if !exp.evaluate.iter().any(|p| p == "unseen") {
                    self.error(
                        Diagnostic::new(Code::UnknownPartition, format!("experiment `{experiment}` has no unseen sources to fine-tune on"))
                            .at(call.span, "needs unseen sources")
                            .help("use a by_source or leave_one_source_out split that evaluates on unseen"),
                    );
                    return None;
                }
                ProbeKind::Finetune {
                    experiment,
                    point,
                    sizes,
                    epochs,
                }
            }
            _ => {
                let (experiment, point) = self.experiment_argument(call, &e, "saliency")?;
                let samples = match e.get("samples").and_then(|x| self.one(x)) {
                    Some(v) => self.count(v, "the number of images", 1, 100_000)?,
                    None => 32,
                };
                let masks_value = e.get("masks").and_then(|x| self.one(x));
                let masks = match masks_value {
                    Some(v) => self.mask_source_value(v)?,
                    None => MaskSource::Dataset,
                };
                if masks == MaskSource::Dataset {
                    let unmasked = self.result_splits(&experiment).into_iter().find_map(|s| {
                        let data = self.study.splits.get(&s)?.data.clone();
                        self.study
                            .datasets
                            .get(&data)
                            .is_some_and(|d| d.masks.is_none())
                            .then_some(data)
                    });
                    if let Some(data) = unmasked {
                        self.error(
                            Diagnostic::new(
                                Code::IncompatibleChoice,
                                format!("the saliency probe measures inside the dataset's lung masks, but dataset `{data}` has none"),
                            )
                            .at(masks_value.map_or(call.span, Value::span), "no masks to measure inside")
                            .help("name a segmenter: `masks my_segmenter`"),
                        );
                        return None;
                    }
                }
                ProbeKind::Saliency {
                    experiment,
                    point,
                    samples,
                    masks,
                }
            }
        };
        Some(Probe {
            origin,
            kind: probe,
        })
    }

    pub(in crate::check) fn mask_source_value(&mut self, v: &Value) -> Option<MaskSource> {
        let id = self.ident(v, "the mask source")?;
        if id.name == "dataset" {
            return Some(MaskSource::Dataset);
        }
        self.reference(id, DeclKind::Segmenter)
            .map(MaskSource::Segmenter)
    }

    /// `predict(source)`, `predict(sex)`, `predict(age_group(40, 65))`.
    pub(in crate::check) fn target(&mut self, v: &Value, split: &str) -> Option<Target> {
        if let Value::Call(c) = v {
            if c.name.name != "age_group" {
                self.error(
                    Diagnostic::new(
                        Code::UnknownConstructor,
                        format!("unknown target `{}`", c.name.name),
                    )
                    .at(c.name.span, "unknown target")
                    .help("did you mean `age_group(40, 65)`?"),
                );
                return None;
            }
            let mut edges = Vec::new();
            for arg in &c.args {
                edges.push(self.number_in(&arg.value, "an age edge", 0.0, 120.0)?);
            }
            if edges.is_empty() || edges.windows(2).any(|w| w[0] >= w[1]) {
                self.out_of_range(
                    c.span,
                    "age groups need increasing edges".into(),
                    "for example: age_group(40, 65)",
                );
                return None;
            }
            self.check_variable("age", c.span, split)?;
            return Some(Target::AgeGroup(edges));
        }
        let id = self.ident(v, "the target")?;
        self.check_variable(&id.name, id.span, split)?;
        Some(match id.name.as_str() {
            "source" => Target::Source,
            "label" => Target::Label,
            other => Target::Attribute(other.to_string()),
        })
    }

    /// A metadata variable must exist in the split's dataset where that is known before reading data.
    pub(in crate::check) fn check_variable(
        &mut self,
        name: &str,
        at: Span,
        split: &str,
    ) -> Option<()> {
        let builtin = [
            "label",
            "source",
            "age",
            "sex",
            "view",
            "patient",
            "age_group",
        ];
        let dataset = self
            .study
            .splits
            .get(split)
            .and_then(|s| self.study.datasets.get(&s.data))
            .cloned();
        let Some(dataset) = dataset else {
            return builtin.contains(&name).then_some(()).or_else(|| {
                self.error(
                    Diagnostic::new(Code::UnknownField, format!("unknown variable `{name}`"))
                        .at(at, "unknown variable")
                        .help(did_you_mean(name, &builtin)),
                );
                None
            });
        };
        let available: Vec<String> = match &dataset.source {
            DatasetSource::Csv { columns, .. } => {
                let mut v = vec!["label".to_string(), "source".into()];
                for (role, col) in [
                    ("age", &columns.age),
                    ("sex", &columns.sex),
                    ("view", &columns.view),
                    ("patient", &columns.patient),
                ] {
                    if col.is_some() {
                        v.push(role.into());
                    }
                }
                v.extend(columns.extra.keys().cloned());
                v
            }
            DatasetSource::Synthetic(_) => ["label", "source", "age", "sex", "view", "patient"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            _ => builtin.iter().map(|s| s.to_string()).collect(),
        };
        if available.iter().any(|a| a == name)
            || (name == "age_group" && available.iter().any(|a| a == "age"))
        {
            return Some(());
        }
        let options: Vec<&str> = available.iter().map(String::as_str).collect();
        let split_data = self
            .study
            .splits
            .get(split)
            .map(|s| s.data.clone())
            .unwrap_or_default();
        self.error(
            Diagnostic::new(
                Code::UnknownField,
                format!("dataset `{split_data}` has no variable `{name}`"),
            )
            .at(at, "not in the dataset")
            .help(did_you_mean(name, &options)),
        );
        None
    }

    /// `split.partition`
    pub(in crate::check) fn split_partition(&mut self, v: &Value) -> Option<(String, String)> {
        let Value::Path(parts, _) = v else {
            self.wrong_type(v, "`split.partition`", "the partition");
            return None;
        };
        let [split_id, partition] = parts.as_slice() else {
            self.wrong_type(
                v,
                "`split.partition` (for example `seen_unseen.train`)",
                "the partition",
            );
            return None;
        };
        let split = self.reference(split_id, DeclKind::Split)?;
        let partitions = self.study.splits.get(&split)?.partitions();
        if !partitions.contains(&partition.name) {
            let options: Vec<&str> = partitions.iter().map(String::as_str).collect();
            self.error(
                Diagnostic::new(
                    Code::UnknownPartition,
                    format!("split `{split}` has no partition `{}`", partition.name),
                )
                .at(partition.span, "unknown partition")
                .help(did_you_mean(&partition.name, &options)),
            );
            return None;
        }
        Some((split, partition.name.clone()))
    }

    /// `gap(experiment) { at { model small } }`: the experiment and, for grids, the selected point.
    pub(in crate::check) fn experiment_argument(
        &mut self,
        call: &ast::Call,
        e: &Entries,
        what: &str,
    ) -> Option<(String, Option<GridPoint>)> {
        let args = self.args(call, &format!("`{what}`"), &["experiment"], 1);
        let Some(v) = args.get("experiment") else {
            self.missing(
                call.span,
                &format!("`{what}`"),
                "experiment",
                &format!("{what}(my_experiment)"),
            );
            return None;
        };
        let experiment = self.reference_value(v, DeclKind::Experiment)?;
        let exp = self.study.experiments.get(&experiment)?.clone();
        let mut selection: Vec<(ast::Ident, ast::Ident)> = Vec::new();
        if let Some(at) = e.get("at") {
            let inner = self.axis_block(at, "model small")?;
            for (axis, entry) in &inner.map {
                let value = self.one(entry)?;
                let id = self.ident(value, "an axis value")?;
                let key = ast::Ident {
                    name: axis.to_string(),
                    span: entry.key.span,
                };
                selection.push((key, id.clone()));
            }
        }
        let point = self.select_point(&experiment, &exp, &selection, call.span)?;
        Some((experiment, point))
    }

    /// Resolves a selection `[axis = value, ...]` to one grid point. Every varying axis must be selected.
    pub(in crate::check) fn select_point(
        &mut self,
        name: &str,
        exp: &Experiment,
        selection: &[(ast::Ident, ast::Ident)],
        at: Span,
    ) -> Option<Option<GridPoint>> {
        for (axis, value) in selection {
            if !GRID_AXES.contains(&axis.name.as_str()) {
                self.error(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!("`{}` is not a grid axis", axis.name),
                    )
                    .at(axis.span, "unknown axis")
                    .help(did_you_mean(&axis.name, &GRID_AXES)),
                );
                return None;
            }
            let values = unique(
                exp.points
                    .iter()
                    .filter_map(|p| p.axis(&axis.name).map(str::to_string)),
            );
            if !values.contains(&value.name) {
                let options: Vec<&str> = values.iter().map(String::as_str).collect();
                self.error(
                    Diagnostic::new(
                        Code::AmbiguousSelection,
                        format!(
                            "experiment `{name}` has no `{}` on axis `{}`",
                            value.name, axis.name
                        ),
                    )
                    .at(value.span, "not in the grid")
                    .help(did_you_mean(&value.name, &options)),
                );
                return None;
            }
        }
        // The selection must leave exactly one grid cell; axes zipped together are fixed by one another.
        let matching: Vec<&GridPoint> = exp
            .points
            .iter()
            .filter(|p| {
                selection
                    .iter()
                    .all(|(a, v)| p.axis(&a.name) == Some(v.name.as_str()))
            })
            .collect();
        match matching.as_slice() {
            [] => {
                self.error(
                    Diagnostic::new(
                        Code::AmbiguousSelection,
                        format!("this cell of `{name}` was excluded from the grid"),
                    )
                    .at(at, "excluded cell")
                    .help("select a cell that runs"),
                );
                None
            }
            [only] if exp.varying.is_empty() => {
                let _ = only;
                Some(None)
            }
            [only] => Some(Some((*only).clone())),
            several => {
                let open: Vec<&String> = exp
                    .varying
                    .iter()
                    .filter(|axis| {
                        unique(
                            several
                                .iter()
                                .filter_map(|p| p.axis(axis).map(str::to_string)),
                        )
                        .len()
                            > 1
                    })
                    .collect();
                let example: Vec<String> = selection
                    .iter()
                    .map(|(a, v)| format!("{} = {}", a.name, v.name))
                    .chain(
                        open.iter()
                            .map(|a| format!("{a} = {}", several[0].axis(a).unwrap_or("..."))),
                    )
                    .collect();
                let axes: Vec<String> = open.iter().map(|a| format!("`{a}`")).collect();
                self.error(
                    Diagnostic::new(
                        Code::AmbiguousSelection,
                        format!("experiment `{name}` has several grid cells; say which one"),
                    )
                    .at(at, format!("select {}", axes.join(", ")))
                    .help(format!("for example: {name}[{}]", example.join(", "))),
                );
                None
            }
        }
    }
}
