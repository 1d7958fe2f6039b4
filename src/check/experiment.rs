//! Experiments: a training setup per grid point, what they measure and how.

use crate::check::Checker;
use crate::check::grid::{axis_kind, unique};
use crate::check::probe::split_name;
use crate::check::values::Entries;
use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::Decl;
use indexmap::IndexMap;

/// A diagnostic waiting for the span it will be reported at.
pub(in crate::check) struct PendingDiagnostic {
    code: Code,
    message: String,
    label: String,
    help: String,
}

impl PendingDiagnostic {
    pub(in crate::check) fn at_span(self, span: Span) -> Diagnostic {
        Diagnostic::new(self.code, self.message)
            .at(span, self.label)
            .help(self.help)
    }
}

impl Checker<'_> {
    pub(in crate::check) fn experiment(&mut self, decl: &Decl) -> Option<Experiment> {
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
            "interval",
            "per_source",
            "evaluate",
            "positive",
            "threshold",
            "repeats",
        ];
        allowed.extend(GRID_AXES);
        let e = self.block_entries(decl, &owner, &allowed);
        let (points, varying, axis_spans) = self.grid(&e, &owner)?;
        let mut ok = true;

        let measures = match e.get("measure").and_then(|m| self.one(m)) {
            Some(v) => {
                let mut out = Vec::new();
                let mut written = Vec::new();
                for m in self.list(v) {
                    match self.metric(m, false) {
                        Some(metric) => {
                            written.push((metric.name().to_string(), m.span()));
                            if !out.contains(&metric) {
                                out.push(metric);
                            }
                        }
                        None => ok = false,
                    }
                }
                ok &= self.no_repeats(&written, "metric");
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
        let interval = match e.get("interval").and_then(|i| self.one(i)) {
            Some(v) => match self
                .choice(v, "interval of proportions", &["wilson", "exact"])?
                .as_str()
            {
                "exact" => ProportionInterval::Exact,
                _ => ProportionInterval::Wilson,
            },
            None => ProportionInterval::Wilson,
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
                        let parts = split.evaluable();
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
            interval,
            per_source,
            evaluate,
            positive,
            threshold,
            repeats,
        })
    }

    /// model, crop, split, preprocess and train of a probe that trains.
    pub(in crate::check) fn setup(
        &mut self,
        e: &Entries,
        owner: &str,
        crop: Option<String>,
    ) -> Option<Setup> {
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

    pub(in crate::check) fn report_setup(&mut self, setup: &Setup, at: Span) -> bool {
        let problems = self.setup_problems(setup);
        let ok = problems.is_empty();
        for (_, _, p) in problems {
            self.error(p.at_span(at));
        }
        ok
    }

    /// Everything that cannot work in one training setup: (name, other name, diagnostic without label).
    pub(in crate::check) fn setup_problems(
        &self,
        s: &Setup,
    ) -> Vec<(String, String, PendingDiagnostic)> {
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
                PendingDiagnostic {
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
            out.push((s.preprocess.clone(), s.model.clone(), PendingDiagnostic {
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
                PendingDiagnostic {
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
        let pixel_box = match &crop.op {
            CropOp::Box { rect }
            | CropOp::Occlude {
                region: Region::Box(rect),
            }
            | CropOp::KeepOnly {
                region: Region::Box(rect),
            } => match rect {
                Rect::Pixels { x, y, w, h } => Some((x + w, y + h)),
                Rect::Fraction { .. } => None,
            },
            _ => None,
        };
        if let (Some((right, bottom)), Some((side, _))) =
            (pixel_box, self.synthetic_shape(&split.data))
            && (right > side || bottom > side)
        {
            out.push((
                s.crop.clone(),
                s.split.clone(),
                PendingDiagnostic {
                    code: Code::OutOfRange,
                    message: format!(
                        "crop `{}` reaches {right}×{bottom} px, outside the {side}×{side} px images of dataset `{}`",
                        s.crop, split.data
                    ),
                    label: "box outside the image".into(),
                    help: format!("keep the box within {side}×{side} px, or give it as shares (10%, 10%, 80%, 80%)"),
                },
            ));
        }
        let needs_validation =
            matches!(train.select, Selection::Best { .. }) || train.early_stop.is_some();
        if needs_validation
            && split.fractions.get("validation").copied().unwrap_or(0.0) == 0.0
            && !split.partitions().contains(&"validation".to_string())
        {
            out.push((s.train.clone(), s.split.clone(), PendingDiagnostic {
                code: Code::IncompatibleChoice,
                message: format!("train `{}` selects or stops on the validation partition, but split `{}` has none", s.train, s.split),
                label: "no validation partition".into(),
                help: "give the split a validation share, or use `select last` without early stopping".into(),
            }));
        }
        out
    }

    // Probes
}

/// Trainings from which a study within its raised limit is still warned about (W0002).
const LARGE_STUDY: u64 = 100_000;

impl Checker<'_> {
    /// E0036 when the experiments together would train more models than the study's limit, at the
    /// experiment that trains most, with where its count comes from.
    pub(in crate::check) fn training_count(&mut self) {
        let per_experiment: Vec<(&String, u64, String, Option<Span>)> = self
            .study
            .experiments
            .iter()
            .map(|(name, e)| {
                let folds: u64 = e
                    .points
                    .iter()
                    .map(|p| {
                        self.study
                            .splits
                            .get(&p.split)
                            .map_or(1, |s| s.folds().len() as u64)
                    })
                    .sum();
                let count = folds.saturating_mul(e.repeats as u64);
                let why = format!(
                    "{} grid point(s), {folds} training(s) over their folds, × {} repeat(s)",
                    e.points.len(),
                    e.repeats
                );
                (name, count, why, e.origin.span)
            })
            .collect();
        let total: u64 = per_experiment.iter().map(|(_, n, _, _)| *n).sum();
        let limit = self.study.training_limit();
        let Some((name, count, why, Some(span))) =
            per_experiment.iter().max_by_key(|(_, n, _, _)| *n).cloned()
        else {
            return;
        };
        if total > limit {
            let d = Diagnostic::new(
                Code::TooManyTrainings,
                format!("the study would train {total} models, over its limit of {limit}"),
            )
            .at(span, format!("experiment `{name}` trains {count}: {why}"))
            .help(format!(
                "lower the repeats or the grid, or raise the limit in the study header: `max_trainings {total}`"
            ));
            self.error(d);
        } else if total >= LARGE_STUDY {
            self.suspicious(
                span,
                format!("the study would train {total} models (experiment `{name}` trains {count}: {why})"),
                "check the grid and the repeats: a study this large takes days even on a cluster",
            );
        }
    }
}
