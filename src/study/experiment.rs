//! Splits, experiments and their grids, probes, hypotheses with their rules, and the report.

use super::{CompareOp, MaskSource, Metric, Origin};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub origin: Origin,
    pub data: String,
    pub method: SplitMethod,
    /// Partition name → share of the (training-source) images. Sums to 1.
    pub fractions: IndexMap<String, f64>,
    /// Keep each class's share equal across partitions.
    pub stratify: bool,
    /// Metadata column whose values never straddle two partitions (usually `patient`).
    pub group: Option<String>,
    /// Named test sets (`tests { covid_vs_nih [figure1, nih] }`): the held-out images (every partition
    /// but train and validation) of the listed sources, evaluated like a partition.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tests: IndexMap<String, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum SplitMethod {
    Random,
    /// Seen sources are split by `fractions`; unseen sources form the `unseen` partition whole.
    BySource {
        seen: Vec<String>,
        unseen: Vec<String>,
    },
    /// One fold per source: that source is unseen, the others are split by `fractions`.
    LeaveOneSourceOut {
        sources: Vec<String>,
    },
    /// `k` folds; each is the test partition once.
    KFold {
        k: u32,
    },
    /// Partitions read from a manifest column.
    Column {
        column: String,
        values: IndexMap<String, String>,
    },
}

/// Whether an image of `source` in `partition` belongs to a test set of `sources`: held out (any partition
/// but train and validation) and from one of the sources.
pub fn in_test_set(sources: &[String], partition: &str, source: &str) -> bool {
    partition != "train" && partition != "validation" && sources.iter().any(|s| s == source)
}

impl Split {
    /// What an experiment can evaluate on: the partitions, then the named test sets.
    pub fn evaluable(&self) -> Vec<String> {
        let mut out = self.partitions();
        out.extend(self.tests.keys().cloned());
        out
    }

    /// Partitions this split produces (those with a share above zero), in a fixed order.
    pub fn partitions(&self) -> Vec<String> {
        let mut out: Vec<String> = match &self.method {
            SplitMethod::Column { values, .. } => {
                let mut names: Vec<String> = Vec::new();
                for p in values.values() {
                    if !names.contains(p) {
                        names.push(p.clone());
                    }
                }
                return names;
            }
            _ => self
                .fractions
                .iter()
                .filter(|(_, f)| **f > 0.0)
                .map(|(p, _)| p.clone())
                .collect(),
        };
        match self.method {
            SplitMethod::BySource { .. } | SplitMethod::LeaveOneSourceOut { .. } => {
                out.push("unseen".into())
            }
            // Each fold is the test partition once; the others are split into train and validation.
            SplitMethod::KFold { .. } => out.push("test".into()),
            _ => {}
        }
        out
    }

    /// Folds the split expands into (`None` for a single assignment).
    pub fn folds(&self) -> Vec<Option<String>> {
        match &self.method {
            SplitMethod::LeaveOneSourceOut { sources } => {
                sources.iter().map(|s| Some(s.clone())).collect()
            }
            SplitMethod::KFold { k } => (1..=*k).map(|i| Some(format!("fold{i}"))).collect(),
            _ => vec![None],
        }
    }

    /// The partition that holds out images of the sources seen in training (`seen`, else `test`, else
    /// `validation`).
    pub fn held_out_seen(&self) -> String {
        let parts = self.partitions();
        ["seen", "test"]
            .iter()
            .find(|p| parts.iter().any(|q| q == *p))
            .map_or_else(|| "validation".to_string(), |p| p.to_string())
    }

    pub fn is_source_split(&self) -> bool {
        matches!(
            self.method,
            SplitMethod::BySource { .. } | SplitMethod::LeaveOneSourceOut { .. }
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub origin: Origin,
    /// Axes with more than one value, in grid order (`model`, `crop`, `split`, `preprocess`, `train`).
    pub varying: Vec<String>,
    /// Every combination that runs, after `zip` and `exclude`.
    pub points: Vec<GridPoint>,
    pub measures: Vec<Metric>,
    pub confidence: f64,
    pub bootstrap: u32,
    /// The interval of proportions (sensitivity, specificity, accuracy): `interval wilson` or `exact`.
    pub interval: ProportionInterval,
    pub per_source: bool,
    pub evaluate: Vec<String>,
    pub positive: Option<String>,
    pub threshold: Threshold,
    pub repeats: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GridPoint {
    pub model: String,
    pub crop: String,
    pub split: String,
    pub preprocess: String,
    pub train: String,
}

impl GridPoint {
    /// The training recipe of this grid cell.
    pub fn setup(&self) -> Setup {
        Setup {
            model: self.model.clone(),
            crop: self.crop.clone(),
            split: self.split.clone(),
            preprocess: self.preprocess.clone(),
            train: self.train.clone(),
        }
    }

    pub fn axis(&self, axis: &str) -> Option<&str> {
        Some(match axis {
            "model" => &self.model,
            "crop" => &self.crop,
            "split" => &self.split,
            "preprocess" => &self.preprocess,
            "train" => &self.train,
            _ => return None,
        })
    }
}

pub const GRID_AXES: [&str; 5] = ["model", "crop", "split", "preprocess", "train"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// Youden's J maximised on the validation partition.
    Youden,
    Fixed(f64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub origin: Origin,
    pub kind: ProbeKind,
}

/// What a probe learns or measures. `Setup` is the training recipe shared by probes that train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum ProbeKind {
    /// Train the model to predict `target` from images; compare with the majority baseline.
    Predict { target: Target, setup: Setup },
    /// The main task under each crop, side by side.
    Occlusion { crops: Vec<String>, setup: Setup },
    /// Seen − unseen of an experiment's metric, with a bootstrap interval, overall and per unseen source.
    Gap {
        experiment: String,
        point: Option<GridPoint>,
        metric: Metric,
        /// The test set that stands for the unseen images (`against covid_vs_nih`); `None` is `unseen`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        against: Option<String>,
    },
    /// Association of two variables in one partition of a split: table, chi-square, Cramér's V.
    Association {
        first: String,
        second: String,
        split: String,
        partition: String,
    },
    /// Logistic regression from metadata alone to the label.
    MetadataBaseline {
        features: Vec<String>,
        split: String,
    },
    /// Fine-tune an experiment's model on `sizes` labelled images of each unseen source.
    Finetune {
        experiment: String,
        point: Option<GridPoint>,
        sizes: Vec<u32>,
        epochs: u32,
    },
    /// Grad-CAM maps of a sample of test images and the share of saliency inside the lungs.
    Saliency {
        experiment: String,
        point: Option<GridPoint>,
        samples: u32,
        masks: MaskSource,
    },
}

/// The confidence level of probes' own intervals (predictability, occlusion, metadata baseline).
pub const PROBE_LEVEL: f64 = 0.95;

impl ProbeKind {
    /// The kind as a study writes it (`predict`, `metadata_baseline`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Predict { .. } => "predict",
            ProbeKind::Occlusion { .. } => "occlusion",
            ProbeKind::Gap { .. } => "gap",
            ProbeKind::Association { .. } => "association",
            ProbeKind::MetadataBaseline { .. } => "metadata_baseline",
            ProbeKind::Finetune { .. } => "finetune",
            ProbeKind::Saliency { .. } => "saliency",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub model: String,
    pub crop: String,
    pub split: String,
    pub preprocess: String,
    pub train: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Source,
    Label,
    /// Any metadata attribute (sex, view, or an extra column).
    Attribute(String),
    /// Age binned at these edges (years).
    AgeGroup(Vec<f64>),
}

impl Target {
    /// The attribute as a word: `source`, `label`, `sex`, `age_group`.
    pub fn name(&self) -> &str {
        match self {
            Target::Label => "label",
            Target::Source => "source",
            Target::Attribute(a) => a,
            Target::AgeGroup(_) => "age_group",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub origin: Origin,
    pub statement: String,
    pub confirmed: Option<Condition>,
    pub refuted: Option<Condition>,
}

impl Hypothesis {
    /// Probes and experiments the rules read.
    pub fn uses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.confirmed.iter().chain(&self.refuted) {
            c.collect_targets(&mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// A decision rule, evaluated on results after the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        lhs: Quantity,
        op: CompareOp,
        rhs: Quantity,
    },
}

impl Condition {
    /// The rule as a study writes it: `a.auc.lower > 0.9 and b.gap.lower > 0.1`.
    pub fn render(&self) -> String {
        match self {
            Condition::And(cs) => cs
                .iter()
                .map(render_nested)
                .collect::<Vec<_>>()
                .join(" and "),
            Condition::Or(cs) => cs
                .iter()
                .map(render_nested)
                .collect::<Vec<_>>()
                .join(" or "),
            Condition::Not(c) => format!("not {}", render_nested(c)),
            Condition::Compare { lhs, op, rhs } => {
                format!(
                    "{} {} {}",
                    render_quantity(lhs),
                    op.symbol(),
                    render_quantity(rhs)
                )
            }
        }
    }

    fn collect_targets(&self, out: &mut Vec<String>) {
        match self {
            Condition::And(cs) | Condition::Or(cs) => {
                cs.iter().for_each(|c| c.collect_targets(out))
            }
            Condition::Not(c) => c.collect_targets(out),
            Condition::Compare { lhs, rhs, .. } => {
                lhs.collect_targets(out);
                rhs.collect_targets(out);
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    Number(f64),
    Result(ResultRef),
    Neg(Box<Quantity>),
    Arith {
        first: Box<Quantity>,
        rest: Vec<(ArithOp, Quantity)>,
    },
}

impl Quantity {
    fn collect_targets(&self, out: &mut Vec<String>) {
        match self {
            Quantity::Number(_) => {}
            Quantity::Result(r) => out.push(r.target.clone()),
            Quantity::Neg(q) => q.collect_targets(out),
            Quantity::Arith { first, rest } => {
                first.collect_targets(out);
                rest.iter().for_each(|(_, q)| q.collect_targets(out));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// One number a probe or experiment produces: `target[selection].field(args).statistic`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRef {
    pub target: String,
    pub point: Option<GridPoint>,
    pub field: String,
    pub args: Vec<String>,
    pub statistic: Statistic,
    /// The reference as written, for reports.
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// The point estimate (mean over repeats).
    Value,
    /// Lower confidence bound.
    Lower,
    /// Upper confidence bound.
    Upper,
    /// Standard error over repeats.
    Se,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub formats: Vec<ReportFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Markdown,
    Html,
    Json,
    Csv,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            formats: vec![
                ReportFormat::Markdown,
                ReportFormat::Html,
                ReportFormat::Json,
                ReportFormat::Csv,
            ],
        }
    }
}

/// How the interval of a proportion (sensitivity, specificity, accuracy) is formed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProportionInterval {
    /// Wilson's score interval: close to nominal coverage, inside [0, 1], not degenerate at 0 or 1.
    #[default]
    Wilson,
    /// Clopper–Pearson's exact interval: at least nominal coverage (wider).
    Exact,
}

impl ProportionInterval {
    pub fn name(self) -> &'static str {
        match self {
            ProportionInterval::Wilson => "Wilson",
            ProportionInterval::Exact => "Clopper–Pearson",
        }
    }
}

fn render_nested(c: &Condition) -> String {
    match c {
        Condition::And(_) | Condition::Or(_) => format!("({})", c.render()),
        _ => c.render(),
    }
}

fn render_quantity(q: &Quantity) -> String {
    match q {
        Quantity::Number(x) => format!("{x}"),
        Quantity::Result(r) => r.text.clone(),
        Quantity::Neg(q) => format!("-{}", render_quantity(q)),
        Quantity::Arith { first, rest } => {
            let mut s = render_quantity(first);
            for (op, q) in rest {
                let op = match op {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                    ArithOp::Div => "/",
                };
                s.push_str(&format!(" {op} {}", render_quantity(q)));
            }
            format!("({s})")
        }
    }
}
