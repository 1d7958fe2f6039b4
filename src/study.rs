//! The checked study: every name resolved, every value typed and in range. Produced by `check`, consumed
//! by `plan` and everything after it. Nothing in here can be wrong because of the study text any more;
//! each declaration keeps its `Origin` so later failures (data, training) can still name it.

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

// ---------------------------------------------------------------------------------------------------------
// Data

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub origin: Origin,
    pub source: DatasetSource,
    /// Class names when known before reading data (label map targets, declared classes, synthetic).
    pub classes: Option<Vec<String>>,
    /// Source names when known before reading data (declared `sources`, synthetic).
    pub sources: Option<Vec<String>>,
    /// Where lung masks come from, if the dataset has them.
    pub masks: Option<DatasetMasks>,
    pub on_error: OnError,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// A bad image or row stops the run with a diagnostic.
    Fail,
    /// Bad images or rows are skipped and counted in the report.
    Skip,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetSource {
    Csv {
        manifest: String,
        /// Folder image paths are relative to (default: the manifest's folder).
        images: Option<String>,
        columns: Columns,
        label_map: Option<LabelMap>,
        keep: Option<Filter>,
    },
    Folders {
        root: String,
        layout: FolderLayout,
        label_map: Option<LabelMap>,
    },
    Dicom {
        root: String,
        layout: FolderLayout,
        label_map: Option<LabelMap>,
    },
    Synthetic(Synthetic),
    Union {
        parts: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderLayout {
    /// `root/<class>/<image>`
    ClassPerFolder,
    /// `root/<source>/<class>/<image>`
    SourceThenClass,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    pub image: String,
    pub label: String,
    pub source: Option<SourceColumn>,
    pub patient: Option<String>,
    pub age: Option<String>,
    pub sex: Option<String>,
    pub view: Option<String>,
    /// Further metadata: name in the study → CSV column.
    pub extra: IndexMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceColumn {
    Column(String),
    /// Every row of this dataset has this source.
    Fixed(String),
}

/// Raw label value → class name. Unmapped values go to `wildcard`, or are an error when it is `None`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelMap {
    pub entries: IndexMap<String, LabelTarget>,
    pub wildcard: Option<LabelTarget>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelTarget {
    Class(String),
    /// The row is left out.
    Drop,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DatasetMasks {
    /// Masks drawn by the synthetic generator.
    Generated,
    /// A manifest column holding each image's mask path.
    Column(String),
    /// A folder with one mask per image, same relative path.
    Folder(String),
}

/// A `keep` filter over manifest rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare {
        field: Field,
        op: CompareOp,
        value: Literal,
    },
    In {
        field: Field,
        values: Vec<Literal>,
        negated: bool,
    },
    Missing {
        field: Field,
        negated: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// A mapped role: image, label, source, patient, age, sex, view, or an extra metadata name.
    Role(String),
    /// A raw manifest column.
    Column(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Literal {
    Number(f64),
    Text(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The phantom-radiograph generator's parameters (see docs/synthetic.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Synthetic {
    pub size: u32,
    pub classes: Vec<String>,
    /// Strength of the pathology signal, 0 (invisible) to 1 (obvious).
    pub signal: f64,
    pub sources: IndexMap<String, SyntheticSource>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyntheticSource {
    pub images: u32,
    /// Class → share of this source's images; sums to 1.
    pub labels: IndexMap<String, f64>,
    pub age: (f64, f64),
    /// Share of male patients.
    pub male: f64,
    /// Share of AP (vs PA) views.
    pub ap: f64,
    pub gamma: f64,
    pub contrast: f64,
    pub noise: f64,
    pub blur: f64,
    pub offset: f64,
    pub invert: bool,
    pub marker: Option<Marker>,
    /// Collimation border width as a fraction of the image side.
    pub border: f64,
    /// Horizontal stretch factor (1 = none).
    pub stretch: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// A letter or word, or a shape name (`square`, `circle`, `triangle`).
    pub glyph: MarkerGlyph,
    pub corner: Corner,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerGlyph {
    Text(String),
    Square,
    Circle,
    Triangle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Corner {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

// ---------------------------------------------------------------------------------------------------------
// Crops, preprocessing, segmenters

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crop {
    pub origin: Origin,
    pub op: CropOp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum CropOp {
    Full,
    Box {
        rect: Rect,
    },
    /// A centred box covering `fraction` of each side.
    Center {
        fraction: f64,
    },
    /// The bounding box of the lung mask, widened by `margin` of its size on each side; images whose box
    /// is at most `reject_below` of the image height or width are dropped.
    LungBox {
        masks: MaskSource,
        margin: f64,
        reject_below: f64,
    },
    /// The region is blacked out.
    Occlude {
        region: Region,
    },
    /// Everything but the region is blacked out.
    KeepOnly {
        region: Region,
    },
    /// Only a border of `width` (fraction of the side) is kept; the inside is blacked out.
    BorderOnly {
        width: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "unit", rename_all = "snake_case")]
pub enum Rect {
    /// Fractions of the image width and height.
    Fraction {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
    },
    Pixels {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    Lungs(MaskSource),
    Box(Rect),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskSource {
    /// Masks that come with the dataset (synthetic, manifest column or mask folder).
    Dataset,
    /// Masks predicted by a declared segmenter.
    Segmenter(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    pub origin: Origin,
    pub channels: u32,
    pub resize: u32,
    pub interpolation: Interpolation,
    /// Convert raw intensities to 8 bit by min–max scaling before anything else.
    pub rescale: Rescale,
    pub normalize: Normalize,
    pub augment: Option<Augment>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Area averaging when shrinking, bilinear when enlarging.
    Auto,
    Area,
    Bilinear,
    Nearest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rescale {
    None,
    MinMax,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    None,
    PerImage,
    /// Mean and standard deviation of the training partition only.
    TrainStats,
    Fixed {
        mean: f64,
        std: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Probability of a horizontal flip.
    pub flip: f64,
    /// Maximum rotation in degrees.
    pub rotate: f64,
    /// Maximum translation as a fraction of the side.
    pub translate: f64,
    /// Maximum relative brightness change.
    pub brightness: f64,
    /// Maximum relative contrast change.
    pub contrast: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segmenter {
    pub origin: Origin,
    pub depth: u32,
    pub base_channels: u32,
    pub size: u32,
    pub threshold: f64,
    pub source: SegmenterSource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum SegmenterSource {
    Train {
        data: String,
        epochs: u32,
        batch: u32,
        lr: f64,
        holdout: f64,
    },
    Weights {
        path: String,
    },
}

// ---------------------------------------------------------------------------------------------------------
// Models and training

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub origin: Origin,
    pub architecture: Architecture,
    /// Input side in pixels if fixed by the model (else the preprocessing's `resize`).
    pub input: Option<u32>,
    pub weights: Option<String>,
    pub freeze: Freeze,
    /// Hidden widths of the classification head (dense → ReLU → batch-norm each), before the output.
    pub head: Vec<u32>,
    pub dropout: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Architecture {
    Cnn { channels: Vec<u32>, kernel: u32 },
    Resnet { depth: u32 },
    Densenet { depth: u32 },
    Vgg { depth: u32 },
}

impl Architecture {
    /// The smallest input side whose feature map survives every downsampling stage.
    pub fn min_input(&self) -> u32 {
        match self {
            Architecture::Cnn { channels, .. } => 1u32 << channels.len().min(31),
            Architecture::Resnet { .. }
            | Architecture::Densenet { .. }
            | Architecture::Vgg { .. } => 32,
        }
    }

    pub fn short_name(&self) -> String {
        match self {
            Architecture::Cnn { channels, .. } => format!("cnn{}", channels.len()),
            Architecture::Resnet { depth } => format!("resnet{depth}"),
            Architecture::Densenet { depth } => format!("densenet{depth}"),
            Architecture::Vgg { depth } => format!("vgg{depth}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freeze {
    None,
    AllButHead,
    AllButBatchnorm,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub origin: Origin,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub epochs: u32,
    pub batch: u32,
    pub early_stop: Option<EarlyStop>,
    pub class_weights: ClassWeights,
    pub select: Selection,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
    },
    Adamw {
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// Learning rate multiplied by `factor` every `every` epochs.
    Step {
        every: u32,
        factor: f64,
    },
    /// Cosine annealing from the peak to `min_lr` over all epochs.
    Cosine {
        min_lr: f64,
    },
    /// Cosine annealing restarted every `cycle` epochs (each cycle `mult` times longer than the last);
    /// with `snapshots`, the model at the end of each cycle joins an ensemble.
    CosineRestarts {
        cycle: u32,
        mult: u32,
        min_lr: f64,
        snapshots: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub metric: Metric,
    pub patience: u32,
    pub min_delta: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeights {
    None,
    Balanced,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The weights after the last epoch.
    Last,
    /// The epoch with the best value of `metric` on the validation partition.
    Best { metric: Metric },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Auc,
    Accuracy,
    Sensitivity,
    Specificity,
    F1,
    BalancedAccuracy,
    Loss,
}

impl Metric {
    pub const MEASURABLE: [Metric; 6] = [
        Metric::Auc,
        Metric::Accuracy,
        Metric::Sensitivity,
        Metric::Specificity,
        Metric::F1,
        Metric::BalancedAccuracy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Auc => "auc",
            Metric::Accuracy => "accuracy",
            Metric::Sensitivity => "sensitivity",
            Metric::Specificity => "specificity",
            Metric::F1 => "f1",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::Loss => "loss",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        [Metric::Loss]
            .into_iter()
            .chain(Metric::MEASURABLE)
            .find(|m| m.name() == name)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Splits

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

impl Split {
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

    pub fn is_source_split(&self) -> bool {
        matches!(
            self.method,
            SplitMethod::BySource { .. } | SplitMethod::LeaveOneSourceOut { .. }
        )
    }
}

// ---------------------------------------------------------------------------------------------------------
// Experiments, probes, hypotheses

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
