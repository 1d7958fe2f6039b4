//! Data declarations: datasets (sources, columns, label maps, masks, filters, synthetic generators),
//! crops, preprocessings and lung segmenters.

use super::Origin;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

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
    /// The most pixels an image may have to be decoded (`max_pixels`); `None` is `DEFAULT_MAX_PIXELS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels: Option<u64>,
}

/// Images with more pixels are refused before decoding (E0051): 64 megapixels, 8000×8000, several times
/// the largest radiographs, and at most about 0.5 GB while decoding (16-bit RGBA).
pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;

impl Dataset {
    /// The most pixels an image of this dataset may have.
    pub fn pixel_limit(&self) -> u64 {
        self.max_pixels.unwrap_or(DEFAULT_MAX_PIXELS)
    }
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

impl CompareOp {
    /// The operator as written in a study.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// The operator with its sides swapped: `a < b` is `b > a`.
    pub fn flipped(self) -> CompareOp {
        match self {
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::Le => CompareOp::Ge,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::Ge => CompareOp::Le,
            other => other,
        }
    }
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

impl Default for SyntheticSource {
    /// A source as declared with nothing but its name: 100 images, ages 20 to 80, half male, 30 % AP,
    /// no acquisition signature.
    fn default() -> Self {
        SyntheticSource {
            images: 100,
            labels: IndexMap::new(),
            age: (20.0, 80.0),
            male: 0.5,
            ap: 0.3,
            gamma: 1.0,
            contrast: 1.0,
            noise: 0.0,
            blur: 0.0,
            offset: 0.0,
            invert: false,
            marker: None,
            border: 0.0,
            stretch: 1.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// A letter or word, or a shape name (`square`, `circle`, `triangle`).
    pub glyph: MarkerGlyph,
    pub corner: Corner,
}

/// The characters the burned-in marker font draws (letters in either case); any other is drawn as a box.
pub const MARKER_CHARACTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+- ";

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
    /// The per-channel mean and standard deviation torchvision's ImageNet checkpoints expect.
    Imagenet,
}

/// ImageNet's per-channel (R, G, B) mean and standard deviation, as torchvision normalises.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// The ImageNet statistics of channel `c` of an image with `channels` channels: per channel for three,
/// their averages for one (a gray plane stands for all three).
pub fn imagenet_stats(c: usize, channels: usize) -> (f64, f64) {
    if channels == 3 {
        (IMAGENET_MEAN[c], IMAGENET_STD[c])
    } else {
        (
            IMAGENET_MEAN.iter().sum::<f64>() / 3.0,
            IMAGENET_STD.iter().sum::<f64>() / 3.0,
        )
    }
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
