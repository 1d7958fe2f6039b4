//! Experiments (grids of training runs) and probes.

use super::Checker;
use super::values::{Allow, Entries, decl_owner};
use crate::diagnostics::did_you_mean;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Value};
use indexmap::IndexMap;

/// The declaration kind each grid axis refers to.
fn axis_kind(axis: &str) -> DeclKind {
    match axis {
        "model" => DeclKind::Model,
        "crop" => DeclKind::Crop,
        "split" => DeclKind::Split,
        "preprocess" => DeclKind::Preprocess,
        _ => DeclKind::Train,
    }
}

/// Values of one axis with the spans they were written at.
type AxisValues = Vec<(String, Span)>;

/// An expanded grid: its points, the axes that vary, and where each referenced name was written.
type Grid = (Vec<GridPoint>, Vec<String>, IndexMap<String, Span>);

impl Checker<'_> {
    pub(super) fn experiment(&mut self, decl: &Decl) -> Option<Experiment> {
        if let Some(v) = &decl.value {
            self.wrong_type(v, "a block (`experiment e { ... }`)", "an experiment");
        }
        let name = decl.name.as_ref().map_or("", |n| n.name.as_str());
        let owner = format!("experiment `{name}`");
        let mut allowed = vec![
            "grid",
            "zip",
            "exclude*",
            "measure",
            "confidence",
            "bootstrap",
            "per_source",
            "evaluate",
            "positive",
            "threshold",
            "repeats",
        ];
        allowed.extend(GRID_AXES);
        let e = self.entries(
            decl.block.as_ref(),
            &owner,
            &allowed,
            Allow::default(),
            decl.span,
        );
        let (points, varying, axis_spans) = self.grid(&e, &owner)?;
        let mut ok = true;

        let measures = match e.get("measure").and_then(|m| self.one(m)) {
            Some(v) => {
                let mut out = Vec::new();
                for m in self.list(v) {
                    match self.metric(m, false) {
                        Some(metric) if !out.contains(&metric) => out.push(metric),
                        Some(_) => {}
                        None => ok = false,
                    }
                }
                out
            }
            None => vec![Metric::Auc],
        };
        let confidence = match e.get("confidence").and_then(|c| self.one(c)) {
            Some(v) => match self.fraction(v, "the confidence level") {
                Some(c) if c > 0.0 && c < 1.0 => c,
                Some(_) => {
                    self.out_of_range(
                        v.span(),
                        "the confidence level must be above 0% and below 100%".into(),
                        "for example: confidence 95%",
                    );
                    return None;
                }
                None => return None,
            },
            None => 0.95,
        };
        let bootstrap = match e.get("bootstrap").and_then(|b| self.one(b)) {
            Some(v) => self.count(v, "the number of bootstrap resamples", 100, 1_000_000)?,
            None => 1000,
        };
        let per_source = match e.get("per_source") {
            Some(p) => self.flag(p)?,
            None => false,
        };
        let repeats = match e.get("repeats").and_then(|r| self.one(r)) {
            Some(v) => self.count(v, "repeats", 1, 1000)?,
            None => self.study.repeats,
        };
        let threshold = match e.get("threshold").and_then(|t| self.one(t)) {
            Some(v) if v.as_ident().is_some() => {
                self.choice(v, "threshold rule", &["youden"])?;
                Threshold::Youden
            }
            Some(v) => Threshold::Fixed(self.number_in(v, "the decision threshold", 0.0, 1.0)?),
            None => Threshold::Youden,
        };

        // Every split of the grid must make the partitions evaluated.
        let splits: Vec<Split> = unique(points.iter().map(|p| p.split.clone()))
            .iter()
            .filter_map(|s| self.study.splits.get(s).cloned())
            .collect();
        let evaluate = match e.get("evaluate").and_then(|x| self.one(x)) {
            Some(v) => {
                let names = self.names(v, "a partition")?;
                for (p, span) in &names {
                    for split in &splits {
                        let parts = split.partitions();
                        if !parts.contains(p) {
                            let options: Vec<&str> = parts.iter().map(String::as_str).collect();
                            self.error(
                                Diagnostic::new(
                                    Code::UnknownPartition,
                                    format!(
                                        "split `{}` has no partition `{p}`",
                                        split_name(&self.study.splits, split)
                                    ),
                                )
                                .at(*span, "unknown partition")
                                .help(did_you_mean(p, &options)),
                            );
                            ok = false;
                        }
                    }
                }
                names.into_iter().map(|(n, _)| n).collect()
            }
            None => {
                let mut parts: Vec<String> = Vec::new();
                for split in &splits {
                    for p in split.partitions() {
                        if p != "train" && p != "validation" && !parts.contains(&p) {
                            parts.push(p);
                        }
                    }
                }
                if parts.is_empty() && !splits.is_empty() {
                    let at = e.get("split").map_or(e.span, |x| x.span);
                    self.error(
                        Diagnostic::new(Code::UnknownPartition, "the experiment's split holds nothing out to evaluate on")
                            .at(at, "no test, seen or unseen partition")
                            .help("give the split a test share, or list `evaluate [validation]` explicitly"),
                    );
                    ok = false;
                }
                parts
            }
        };

        let positive = match e.get("positive").and_then(|p| self.one(p)) {
            Some(v) => {
                let id = self.ident(v, "the positive class")?.clone();
                for split in &splits {
                    if let Some(classes) = self
                        .study
                        .datasets
                        .get(&split.data)
                        .and_then(|d| d.classes.clone())
                        && !classes.contains(&id.name)
                    {
                        let options: Vec<&str> = classes.iter().map(String::as_str).collect();
                        self.error(
                            Diagnostic::new(
                                Code::UnknownClass,
                                format!("dataset `{}` has no class `{}`", split.data, id.name),
                            )
                            .at(id.span, "unknown class")
                            .help(did_you_mean(&id.name, &options)),
                        );
                        ok = false;
                    }
                }
                Some(id.name)
            }
            None => None,
        };

        ok &= self.grid_compatible(&points, &axis_spans);
        if points.is_empty() {
            return None;
        }
        ok.then(|| Experiment {
            origin: self.origin(decl.name_span()),
            varying,
            points,
            measures,
            confidence,
            bootstrap,
            per_source,
            evaluate,
            positive,
            threshold,
            repeats,
        })
    }

    /// Expands `grid`, `zip`, single axes and `exclude` into grid points.
    fn grid(&mut self, e: &Entries, owner: &str) -> Option<Grid> {
        let mut axes: IndexMap<&str, AxisValues> = IndexMap::new();
        let mut zipped: Vec<&str> = Vec::new();
        let mut written_at: IndexMap<&str, Span> = IndexMap::new();
        let mut spans: IndexMap<String, Span> = IndexMap::new();
        let mut ok = true;
        let mut add_axis = |this: &mut Self,
                            axis: &str,
                            v: &Value,
                            at: Span,
                            axes: &mut IndexMap<&str, AxisValues>,
                            spans: &mut IndexMap<String, Span>|
         -> bool {
            let Some(key) = GRID_AXES.iter().find(|a| **a == axis).copied() else {
                return false;
            };
            if let Some(first) = written_at.get(key) {
                this.error(
                    Diagnostic::new(Code::EmptyGrid, format!("axis `{axis}` is given twice"))
                        .at(at, "given again here")
                        .also(*first, "first given here")
                        .help("each axis is set once: in `grid`, in `zip`, or on its own"),
                );
                return false;
            }
            written_at.insert(key, at);
            let mut values = Vec::new();
            let mut fine = true;
            for item in this.list(v) {
                match this.reference_value(item, axis_kind(axis)) {
                    Some(name) => {
                        spans.entry(name.clone()).or_insert(item.span());
                        if values.iter().any(|(n, _): &(String, Span)| *n == name) {
                            this.error(
                                Diagnostic::new(
                                    Code::EmptyGrid,
                                    format!("`{name}` is listed twice on axis `{axis}`"),
                                )
                                .at(item.span(), "listed again"),
                            );
                            fine = false;
                        }
                        values.push((name, item.span()));
                    }
                    None => fine = false,
                }
            }
            if values.is_empty() && fine {
                this.error(
                    Diagnostic::new(Code::EmptyGrid, format!("axis `{axis}` has no values"))
                        .at(v.span(), "empty list"),
                );
                fine = false;
            }
            axes.insert(key, values);
            fine
        };
        for group in ["grid", "zip"] {
            let Some(entry) = e.get(group) else { continue };
            let Some(inner) = self.axis_block(entry, "model [small, resnet50], crop [full, lungs]")
            else {
                ok = false;
                continue;
            };
            for (axis, axis_entry) in &inner.map {
                let Some(v) = self.one(axis_entry) else {
                    ok = false;
                    continue;
                };
                ok &= add_axis(self, axis, v, axis_entry.span, &mut axes, &mut spans);
                if group == "zip"
                    && let Some(key) = GRID_AXES.iter().find(|a| *a == axis)
                {
                    zipped.push(key);
                }
            }
        }
        for axis in GRID_AXES {
            if let Some(entry) = e.get(axis) {
                match self.one(entry) {
                    Some(v) => ok &= add_axis(self, axis, v, entry.span, &mut axes, &mut spans),
                    None => ok = false,
                }
            }
        }
        for axis in GRID_AXES {
            if !mentioned(e, axis) {
                self.missing(e.span, owner, axis, &format!("{axis} my_{axis}"));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        // zip: the lists advance together, so they must be equally long.
        let zip_len = zipped.first().map(|a| axes[*a].len());
        for axis in &zipped {
            if Some(axes[*axis].len()) != zip_len {
                let entry = e.get("zip").map_or(e.span, |z| z.span);
                self.error(
                    Diagnostic::new(Code::EmptyGrid, "the lists of a `zip` must be equally long")
                        .at(
                            entry,
                            format!(
                                "`{}` has {} value(s), `{}` has {}",
                                zipped[0],
                                zip_len.unwrap_or(0),
                                axis,
                                axes[*axis].len()
                            ),
                        )
                        .help("give every zipped axis the same number of values"),
                );
                return None;
            }
        }
        let mut points: Vec<GridPoint> = vec![GridPoint {
            model: String::new(),
            crop: String::new(),
            split: String::new(),
            preprocess: String::new(),
            train: String::new(),
        }];
        let set = |p: &mut GridPoint, axis: &str, v: &str| match axis {
            "model" => p.model = v.into(),
            "crop" => p.crop = v.into(),
            "split" => p.split = v.into(),
            "preprocess" => p.preprocess = v.into(),
            _ => p.train = v.into(),
        };
        for axis in GRID_AXES.iter().filter(|a| !zipped.contains(a)) {
            let mut next = Vec::new();
            for p in &points {
                for (v, _) in &axes[*axis] {
                    let mut q = p.clone();
                    set(&mut q, axis, v);
                    next.push(q);
                }
            }
            points = next;
        }
        if let Some(n) = zip_len {
            let mut next = Vec::new();
            for p in &points {
                for i in 0..n {
                    let mut q = p.clone();
                    for axis in &zipped {
                        set(&mut q, axis, &axes[*axis][i].0);
                    }
                    next.push(q);
                }
            }
            points = next;
        }
        for exclude in &e.repeated {
            let inner = self.axis_block(exclude, "model resnet50, crop lungs_out")?;
            let mut conditions: Vec<(&str, Vec<String>)> = Vec::new();
            for (axis, entry) in &inner.map {
                let v = self.one(entry)?;
                let mut values = Vec::new();
                for item in self.list(v) {
                    let id = self.ident(item, "an axis value")?;
                    if !axes[*axis].iter().any(|(n, _)| *n == id.name) {
                        let options: Vec<&str> =
                            axes[*axis].iter().map(|(n, _)| n.as_str()).collect();
                        self.error(
                            Diagnostic::new(
                                Code::EmptyGrid,
                                format!("`{}` is not on axis `{axis}` of this grid", id.name),
                            )
                            .at(id.span, "not in the grid")
                            .help(did_you_mean(&id.name, &options)),
                        );
                        return None;
                    }
                    values.push(id.name.clone());
                }
                conditions.push((axis, values));
            }
            let before = points.len();
            points.retain(|p| {
                !conditions.iter().all(|(axis, values)| {
                    p.axis(axis).is_some_and(|v| values.iter().any(|x| x == v))
                })
            });
            if points.len() == before {
                self.error(
                    Diagnostic::new(Code::EmptyGrid, "this `exclude` removes no grid cell")
                        .at(exclude.span, "matches nothing")
                        .help("an exclude removes the cells that match all of its axis values"),
                );
                return None;
            }
        }
        if points.is_empty() {
            let at = e.repeated.last().map_or(e.span, |x| x.span);
            self.error(
                Diagnostic::new(Code::EmptyGrid, "every grid cell is excluded")
                    .at(at, "nothing left to run")
                    .help("remove an exclude or widen the grid"),
            );
            return None;
        }
        let varying: Vec<String> = GRID_AXES
            .iter()
            .filter(|axis| {
                unique(
                    points
                        .iter()
                        .filter_map(|p| p.axis(axis).map(str::to_string)),
                )
                .len()
                    > 1
            })
            .map(|a| a.to_string())
            .collect();
        Some((points, varying, spans))
    }

    /// The block of a `grid`, `zip`, `exclude` or `at` entry, whose keys are grid axes.
    fn axis_block<'b>(&mut self, entry: &'b ast::Entry, example: &str) -> Option<Entries<'b>> {
        let key = &entry.key.name;
        let Some(block) = entry.block.as_ref().filter(|_| entry.values.is_empty()) else {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    format!("`{key}` takes a block of grid axes"),
                )
                .at(entry.span, "expected a block")
                .help(format!("for example: {key} {{ {example} }}")),
            );
            return None;
        };
        Some(self.entries(
            Some(block),
            &format!("`{key}`"),
            &GRID_AXES,
            Allow::default(),
            block.span,
        ))
    }

    /// Checks each (model, preprocess, crop, split, train) combination of a grid for compatibility.
    fn grid_compatible(&mut self, points: &[GridPoint], spans: &IndexMap<String, Span>) -> bool {
        let mut ok = true;
        let mut reported: Vec<(String, String)> = Vec::new();
        for p in points {
            let setup = Setup {
                model: p.model.clone(),
                crop: p.crop.clone(),
                split: p.split.clone(),
                preprocess: p.preprocess.clone(),
                train: p.train.clone(),
            };
            let at = |name: &str| spans.get(name).copied();
            for (a, b, problem) in self.setup_problems(&setup) {
                if reported.contains(&(a.clone(), b.clone())) {
                    continue;
                }
                reported.push((a.clone(), b.clone()));
                let span = at(&a)
                    .or_else(|| at(&b))
                    .unwrap_or_else(|| self.symbol_span(&a));
                let mut d = problem.at_span(span);
                if let Some(other) = at(&b).filter(|s| *s != span) {
                    d = d.also(other, format!("`{b}` here"));
                }
                self.error(d);
                ok = false;
            }
        }
        ok
    }

    /// Everything that cannot work in one training setup: (name, other name, diagnostic without label).
    fn setup_problems(&self, s: &Setup) -> Vec<(String, String, Problem)> {
        let mut out = Vec::new();
        let (Some(model), Some(pre), Some(crop), Some(split), Some(train)) = (
            self.study.models.get(&s.model),
            self.study.preprocessings.get(&s.preprocess),
            self.study.crops.get(&s.crop),
            self.study.splits.get(&s.split),
            self.study.trainings.get(&s.train),
        ) else {
            return out;
        };
        let size = model.input.unwrap_or(pre.resize);
        if let Some(input) = model.input
            && input != pre.resize
        {
            out.push((
                s.preprocess.clone(),
                s.model.clone(),
                Problem {
                    code: Code::IncompatibleChoice,
                    message: format!(
                        "model `{}` takes {input} px inputs, but preprocess `{}` resizes to {} px",
                        s.model, s.preprocess, pre.resize
                    ),
                    label: "size mismatch".into(),
                    help: format!("resize to {input}, or drop `input` from the model"),
                },
            ));
        } else if size < model.architecture.min_input() {
            out.push((s.preprocess.clone(), s.model.clone(), Problem {
                code: Code::InputTooSmall,
                message: format!(
                    "model `{}` ({}) needs inputs of at least {} px, but preprocess `{}` resizes to {size} px",
                    s.model,
                    model.architecture.short_name(),
                    model.architecture.min_input(),
                    s.preprocess
                ),
                label: "too small for the network's downsampling".into(),
                help: format!("resize to at least {} px, or use a network with fewer stages", model.architecture.min_input()),
            }));
        }
        let uses_dataset_masks = matches!(
            &crop.op,
            CropOp::LungBox {
                masks: MaskSource::Dataset,
                ..
            } | CropOp::Occlude {
                region: Region::Lungs(MaskSource::Dataset)
            } | CropOp::KeepOnly {
                region: Region::Lungs(MaskSource::Dataset)
            }
        );
        if uses_dataset_masks
            && self
                .study
                .datasets
                .get(&split.data)
                .is_some_and(|d| d.masks.is_none())
        {
            out.push((
                s.crop.clone(),
                s.split.clone(),
                Problem {
                    code: Code::IncompatibleChoice,
                    message: format!(
                        "crop `{}` uses the dataset's lung masks, but dataset `{}` has none",
                        s.crop, split.data
                    ),
                    label: "no masks for this crop".into(),
                    help: "declare a segmenter and use it: lung_box(my_segmenter)".into(),
                },
            ));
        }
        let needs_validation =
            matches!(train.select, Selection::Best { .. }) || train.early_stop.is_some();
        if needs_validation
            && split.fractions.get("validation").copied().unwrap_or(0.0) == 0.0
            && !split.partitions().contains(&"validation".to_string())
        {
            out.push((s.train.clone(), s.split.clone(), Problem {
                code: Code::IncompatibleChoice,
                message: format!("train `{}` selects or stops on the validation partition, but split `{}` has none", s.train, s.split),
                label: "no validation partition".into(),
                help: "give the split a validation share, or use `select last` without early stopping".into(),
            }));
        }
        out
    }

    // -----------------------------------------------------------------------------------------------------
    // Probes

    pub(super) fn probe(&mut self, decl: &Decl) -> Option<Probe> {
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
            "gap" => vec!["at", "metric"],
            "association" => vec!["within"],
            "metadata_baseline" => vec!["split"],
            "finetune" => vec!["at", "sizes", "epochs"],
            _ => vec!["at", "samples", "masks"],
        };
        let e = self.entries(
            decl.block.as_ref(),
            &owner,
            &allowed,
            Allow::default(),
            decl.span,
        );
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
                for c in self.list(crops_value) {
                    crops.push(self.reference_value(c, DeclKind::Crop)?);
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
                for needed in ["seen", "unseen"] {
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
                let masks = match e.get("masks").and_then(|x| self.one(x)) {
                    Some(v) => self.mask_source_value(v)?,
                    None => MaskSource::Dataset,
                };
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

    fn mask_source_value(&mut self, v: &Value) -> Option<MaskSource> {
        let id = self.ident(v, "the mask source")?;
        if id.name == "dataset" {
            return Some(MaskSource::Dataset);
        }
        self.reference(id, DeclKind::Segmenter)
            .map(MaskSource::Segmenter)
    }

    /// model, crop, split, preprocess and train of a probe that trains.
    fn setup(&mut self, e: &Entries, owner: &str, crop: Option<String>) -> Option<Setup> {
        let mut names: IndexMap<&str, String> = IndexMap::new();
        let mut ok = true;
        for axis in GRID_AXES {
            if axis == "crop"
                && let Some(c) = &crop
            {
                names.insert(axis, c.clone());
                continue;
            }
            match e.get(axis) {
                Some(entry) => match self
                    .one(entry)
                    .and_then(|v| self.reference_value(v, axis_kind(axis)))
                {
                    Some(n) => {
                        names.insert(axis, n);
                    }
                    None => ok = false,
                },
                None => {
                    self.missing(e.span, owner, axis, &format!("{axis} my_{axis}"));
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let setup = Setup {
            model: names["model"].clone(),
            crop: names["crop"].clone(),
            split: names["split"].clone(),
            preprocess: names["preprocess"].clone(),
            train: names["train"].clone(),
        };
        self.report_setup(&setup, e.span).then_some(setup)
    }

    fn report_setup(&mut self, setup: &Setup, at: Span) -> bool {
        let problems = self.setup_problems(setup);
        let ok = problems.is_empty();
        for (_, _, p) in problems {
            self.error(p.at_span(at));
        }
        ok
    }

    /// `predict(source)`, `predict(sex)`, `predict(age_group(40, 65))`.
    fn target(&mut self, v: &Value, split: &str) -> Option<Target> {
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
    fn check_variable(&mut self, name: &str, at: Span, split: &str) -> Option<()> {
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
    fn split_partition(&mut self, v: &Value) -> Option<(String, String)> {
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
    fn experiment_argument(
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
    pub(super) fn select_point(
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

/// A diagnostic waiting for the span it will be reported at.
struct Problem {
    code: Code,
    message: String,
    label: String,
    help: String,
}

impl Problem {
    fn at_span(self, span: Span) -> Diagnostic {
        Diagnostic::new(self.code, self.message)
            .at(span, self.label)
            .help(self.help)
    }
}

/// True when `axis` is written anywhere in the experiment (on its own, in `grid` or in `zip`).
fn mentioned(e: &Entries, axis: &str) -> bool {
    e.has(axis)
        || ["grid", "zip"].iter().any(|group| {
            e.get(group)
                .and_then(|g| g.block.as_ref())
                .is_some_and(|b| {
                    b.items
                        .iter()
                        .any(|i| matches!(i, ast::BlockItem::Entry(x) if x.key.name == axis))
                })
        })
}

fn unique(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn split_name(splits: &IndexMap<String, Split>, split: &Split) -> String {
    splits
        .iter()
        .find(|(_, s)| *s == split)
        .map(|(n, _)| n.clone())
        .unwrap_or_default()
}
