//! Every diagnostic the tool can print: one `Code` enum with stable codes, titles and long explanations
//! (`study explain CODE`), one `Diagnostic` value type, and rendering to text (miette) and JSON.

use crate::source::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $variant:ident = $id:literal, $title:literal, $explain:literal; )*) => {
        /// Stable diagnostic codes. A code, once published, keeps its meaning forever.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum Code { $($variant),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed, without the `study::` prefix (`E0010`).
            pub fn id(self) -> &'static str {
                match self { $(Code::$variant => $id),* }
            }

            /// One line saying what is wrong.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),* }
            }

            /// The long explanation with a wrong and a fixed example.
            pub fn explanation(self) -> &'static str {
                match self { $(Code::$variant => $explain),* }
            }
        }
    };
}

codes! {
    Syntax = "E0001", "syntax error",
"The text does not follow the grammar of the study language (grammar/study.pest).
The label points at the first token that could not be read and lists what was expected there.

Wrong:
    model small = cnn(channels: [16, 32)

Fixed:
    model small = cnn(channels: [16, 32])";

    Unreadable = "E0002", "file cannot be read",
"A study file or an included file does not exist, is a directory, or cannot be read.
Paths in `include` are resolved relative to the file that contains the include.

Wrong (the file is in studies/lib/):
    include \"datasets.study\"

Fixed:
    include \"lib/datasets.study\"";

    NotUtf8 = "E0003", "file is not valid UTF-8",
"Study files must be UTF-8 text. The label points at the first byte that is not UTF-8.
This usually means a binary file was given, or the file was saved in a legacy encoding.

Wrong:
    a file saved as Latin-1 with `study \"r\\xe9sum\\xe9\"`

Fixed:
    re-save the file as UTF-8: `study \"résumé\"`";

    IncludeCycle = "E0004", "include cycle",
"A file includes itself, directly or through other files. Each include on the cycle is labelled.

Wrong (a.study):
    include \"b.study\"
(b.study):
    include \"a.study\"

Fixed: move the shared declarations into a third file that both include.";

    TooLarge = "E0005", "file too large",
"A study file is larger than the limit (16 MiB). Study files describe experiments; data belongs in
manifests referenced by path.

Wrong:
    a generated 50 MB study listing every image inline

Fixed:
    dataset cxr = csv(\"manifest.csv\") { image column \"path\", label column \"label\" }";

    TooDeep = "E0006", "nesting too deep",
"Brackets, braces or parentheses are nested deeper than 64 levels. No study needs this; it is almost
always an unclosed bracket or generated text.

Wrong:
    model m = cnn(channels: [[[[[[ ... ]]]]]])

Fixed:
    model m = cnn(channels: [16, 32, 64])";

    BadEscape = "E0007", "invalid escape in string",
"A string contains a backslash escape the language does not know, or a `\\u{...}` that is not a Unicode
scalar value. Known escapes: \\\" \\\\ \\n \\t \\r \\u{HEX}.

Wrong:
    images \"C:\\data\\images\"

Fixed:
    images \"C:/data/images\"      (or \"C:\\\\data\\\\images\")";

    BadNumber = "E0008", "number cannot be represented",
"A number is too large to be represented (it overflows to infinity) or is otherwise not a finite value.

Wrong:
    train t { optimizer sgd(lr: 1e999) }

Fixed:
    train t { optimizer sgd(lr: 1e-3) }";

    MissingHeader = "E0010", "missing or repeated study header",
"Every study has exactly one `study \"name\" { ... }` header, in the root file. Included files hold
declarations only.

Wrong:
    dataset d = synthetic { ... }          (no header)

Fixed:
    study \"my-study\" { seed 1 }
    dataset d = synthetic { ... }";

    DuplicateName = "E0011", "name declared twice",
"Two declarations of the same kind, or of kinds that share one namespace, use the same name. Names are
global across all included files. Both places are labelled.

Wrong:
    model small = cnn(channels: [16])
    model small = cnn(channels: [32])

Fixed:
    model small = cnn(channels: [16])
    model wider = cnn(channels: [32])";

    UndefinedName = "E0012", "undefined name",
"A reference names a declaration that does not exist. The help line suggests the closest existing name.

Wrong:
    model small = cnn(channels: [16])
    experiment e { model smal, ... }

Fixed:
    experiment e { model small, ... }";

    WrongKind = "E0013", "reference to a declaration of the wrong kind",
"A name refers to a declaration, but not of the kind this place needs (a crop where a model is expected,
for example).

Wrong:
    crop lungs = lung_box(dataset)
    experiment e { model lungs, ... }

Fixed:
    experiment e { model small, crop lungs, ... }";

    UnknownConstructor = "E0014", "unknown variant",
"The value after `=` in a declaration picks its variant (`csv`, `synthetic`, `cnn`, `resnet`, `by_source`,
`predict` ...). This one is not known for this kind of declaration. The help lists the known variants.

Wrong:
    model m = transformer(depth: 12)

Fixed:
    model m = resnet(depth: 18)";

    UnknownEntry = "E0015", "unknown entry or parameter",
"A block entry or a named argument is not one this declaration accepts. Typos get a suggestion.

Wrong:
    train t { optimizer sgd(lr: 0.01, momentun: 0.9), epochs 5, batch 16 }

Fixed:
    train t { optimizer sgd(lr: 0.01, momentum: 0.9), epochs 5, batch 16 }";

    MissingEntry = "E0016", "required entry or parameter missing",
"A declaration lacks an entry or argument without which it has no meaning. The help says what to add.

Wrong:
    train t { optimizer adam(lr: 1e-3), batch 16 }

Fixed:
    train t { optimizer adam(lr: 1e-3), batch 16, epochs 10 }";

    DuplicateEntry = "E0017", "entry given twice",
"The same entry or argument appears twice in one block or call; the study would be ambiguous. Both places
are labelled.

Wrong:
    preprocess p { resize 128, resize 224 }

Fixed:
    preprocess p { resize 224 }";

    WrongType = "E0018", "value of the wrong type",
"A value has the wrong shape for its place: a string where a number is expected, a list where a single
name is expected, a number where a condition is expected, and so on.

Wrong:
    train t { epochs \"ten\", ... }

Fixed:
    train t { epochs 10, ... }";

    OutOfRange = "E0019", "value out of range",
"A number is outside the range that makes sense for its place: a learning rate that is not positive,
zero epochs, a probability above 100 %, a fraction given in pixels where a percentage is needed.

Wrong:
    train t { optimizer sgd(lr: 0), epochs 0, batch 16 }

Fixed:
    train t { optimizer sgd(lr: 0.01), epochs 5, batch 16 }";

    FractionSum = "E0020", "fractions do not add up",
"The fractions of a split, or the label mix of a synthetic source, must add up to exactly 100 %.

Wrong:
    fractions { train 70%, validation 10%, test 10% }

Fixed:
    fractions { train 70%, validation 10%, test 20% }";

    InputTooSmall = "E0021", "input too small for the network",
"The images fed to a model are smaller than its downsampling allows: after all pooling stages the
feature map would be empty. ResNet, DenseNet and VGG need at least 32 px; a small CNN with n stages needs
at least 2^n px.

Wrong:
    preprocess tiny { resize 16 }
    model r = resnet(depth: 18)

Fixed:
    preprocess small { resize 64 }";

    TooFewSources = "E0022", "leave-one-source-out needs at least two sources",
"Leaving one source out of one source leaves nothing to train on.

Wrong:
    split loso = leave_one_source_out { data d, sources [\"a\"] }

Fixed:
    split loso = leave_one_source_out { data d, sources [\"a\", \"b\", \"c\"] }";

    SeenAndUnseen = "E0023", "source both seen and unseen",
"A source listed as seen (training) and unseen (held out) at once would leak its images into the test of
generalisation, and the seen–unseen gap would mean nothing. Both places are labelled.

Wrong:
    split s = by_source { data d, seen [\"a\", \"b\"], unseen [\"b\", \"c\"] }

Fixed:
    split s = by_source { data d, seen [\"a\", \"b\"], unseen [\"c\"] }";

    UnknownField = "E0024", "unknown result field",
"A hypothesis rule reads a field that the probe or experiment does not produce, or passes it arguments it
does not take. The help lists the fields available.

Wrong:
    confirmed when source_probe.auroc.lower > 0.9

Fixed:
    confirmed when source_probe.auc.lower > 0.9";

    BadRule = "E0025", "hypothesis without a usable decision rule",
"A hypothesis needs at least one `confirmed when` or `refuted when` rule, each at most once, and each rule
must be a condition (a comparison), not a number.

Wrong:
    hypothesis h \"...\" { confirmed when probe.auc.lower }

Fixed:
    hypothesis h \"...\" { confirmed when probe.auc.lower > 0.9 }";

    AmbiguousSelection = "E0026", "experiment result needs a grid selection",
"An experiment with a grid of several cells has one result per cell. A rule must say which cell it reads,
with a selector for every axis that varies.

Wrong (grid over two models):
    confirmed when gap.auc(seen) > 0.9

Fixed:
    confirmed when gap[model = small].auc(seen) > 0.9";

    UnknownSource = "E0027", "unknown source",
"A split or probe names a source that the dataset does not declare. Only datasets whose sources are known
before reading any data (synthetic ones, or manifests with a `sources` list) are checked here; other
names are checked when the data is read.

Wrong:
    split s = by_source { data phantom, seen [\"site_a\"], unseen [\"site_x\"] }

Fixed:
    split s = by_source { data phantom, seen [\"site_a\"], unseen [\"site_b\"] }";

    UnknownClass = "E0028", "unknown class",
"A class name is not one of the dataset's classes (its label map's targets, its folders, or its declared
`classes`).

Wrong:
    experiment e { positive covd, ... }

Fixed:
    experiment e { positive covid, ... }";

    UnknownPartition = "E0029", "unknown partition",
"A partition name is not produced by the split. Random, grouped and k-fold splits make train, validation
and test; by-source and leave-one-source-out splits make train, validation, seen and unseen.

Wrong:
    evaluate [test, unseen]        (with a by_source split)

Fixed:
    evaluate [seen, unseen]";

    EmptyGrid = "E0030", "grid is empty or malformed",
"An experiment's grid has no cell left (every combination excluded), or lists of a `zip` differ in length,
or an axis appears twice.

Wrong:
    zip { model [a, b], crop [full] }

Fixed:
    zip { model [a, b], crop [full, lungs] }";

    Cycle = "E0031", "declarations depend on each other in a cycle",
"A union of datasets contains itself, directly or through other unions.

Wrong:
    dataset a = union(b, c)
    dataset b = union(a, d)

Fixed:
    dataset b = union(c, d)";

    MissingName = "E0032", "declaration without a name",
"Every declaration except `report` needs a name so that others can refer to it.

Wrong:
    model = cnn(channels: [16])

Fixed:
    model small = cnn(channels: [16])";

    UnknownMetric = "E0033", "unknown metric",
"A metric name is not one the tool computes. Known metrics: auc, accuracy, sensitivity, specificity, f1,
balanced_accuracy.

Wrong:
    measure [auc, recall]

Fixed:
    measure [auc, sensitivity]";

    IncompatibleChoice = "E0034", "incompatible settings",
"Two settings contradict each other: snapshot ensembles without a restart schedule, a lung crop on a dataset
that provides no masks, early stopping on a partition the split does not make.

Wrong:
    crop lungs = lung_box(dataset)          (over a csv dataset without `mask`)

Fixed:
    segmenter seg = unet(depth: 4) { data lung_masks }
    crop lungs = lung_box(seg)";

    DataMissing = "E0040", "data file or folder not found",
"A manifest, image folder, image, mask or weights file the study names does not exist at run time. Paths
are relative to the study file that writes them. `study check` does not look at data; `study data` and
`study run` do, and name the dataset to download.

Wrong:
    dataset nih = csv(\"data/nih/manifest.csv\") { ... }     (data/nih/ not downloaded)

Fixed: download the dataset (see docs/datasets.md) or correct the path.";

    CsvMalformed = "E0041", "manifest is not readable CSV",
"A manifest row cannot be parsed as CSV: a row with a different number of fields than the header, an
unterminated quote, or bytes that are not UTF-8. The label points at the row.

Wrong:
    path,label
    a.png,covid,extra

Fixed:
    path,label
    a.png,covid";

    MissingColumn = "E0042", "manifest lacks a mapped column",
"The study maps a role (image, label, source, ...) or a filter to a manifest column that the header does not
have. The help suggests the closest header.

Wrong:
    image column \"filename\"          (the header has `path`)

Fixed:
    image column \"path\"";

    BadValue = "E0043", "manifest value cannot be used",
"A cell cannot be read as the study needs it: an age that is not a number (`62` and DICOM-style `062Y` are
read), a label the label map does not cover and no wildcard catches, an empty image path.

Wrong:
    label column \"finding\" { \"COVID-19\" => covid }     (a row says `Pneumonia`)

Fixed:
    label column \"finding\" { \"COVID-19\" => covid, * => other }";

    BadImage = "E0044", "image cannot be decoded",
"An image file is corrupt, truncated, empty, or in a format other than PNG, JPEG or DICOM. With
`on_error skip` on the dataset the image is skipped and counted instead.

Wrong:
    a PNG cut off in the middle of a download

Fixed: download it again, or set `on_error skip` to run without it.";

    BadDicom = "E0045", "DICOM file cannot be used",
"A DICOM file cannot be read, has no pixel data, or uses a compression this build cannot decode.

Wrong:
    a DICOM-SR report in an image folder

Fixed: keep only image DICOM files (CR, DX) in the folder.";

    EmptyData = "E0046", "no images",
"A dataset has no image left after its filters, or one of its classes has none. A classifier needs at least
two classes with images.

Wrong:
    keep age > 200

Fixed:
    keep age > 20";

    DuplicateImage = "E0047", "image listed twice",
"The same image file appears in two rows of a dataset. It would count twice and could land in two partitions.

Wrong:
    images/a.png,covid
    images/a.png,covid

Fixed: remove the repeated row.";

    PatientConflict = "E0048", "one patient with conflicting metadata",
"Rows of the same patient disagree on sex or on the source. Either the patient ids are not unique across
sources, or the metadata is wrong; grouping by patient would then be meaningless.

Wrong:
    p1,M,...
    p1,F,...

Fixed: make patient ids unique (prefix them with the source), or correct the metadata.";

    MaskMismatch = "E0049", "mask size differs from its image",
"A lung mask must have exactly the size of its image.

Wrong:
    images/a.png is 512x480, masks/a.png is 256x240

Fixed: export masks at the image's size.";

    MissingClass = "E0050", "a partition lacks a class",
"A partition that is evaluated has images of only one class (or none), so AUC, sensitivity and specificity
are undefined there. This is found before any training starts.

Wrong:
    by_source split whose unseen source holds only covid images, evaluated with auc

Fixed: add an unseen source with both classes, or evaluate that partition per source only.";

    OtherStudy = "E0060", "the output folder belongs to another study",
"Every run writes into the study's output folder (`output` in the study header, or `--out`). A folder
written by a study with another name is refused rather than mixed: its cells, reports and lock would
describe two different studies. Editing a study and running it again is fine: cells are stored by content
id, so only what changed is recomputed.

Wrong:
    study run studies/a.study --out results     (results/ was written by study \"b\")

Fixed:
    study run studies/a.study --out results-a";

    Diverged = "E0061", "training diverged",
"The training loss became NaN or infinite. The message names the epoch and the learning rate at which it
happened; the cell stops and no model is saved.

Wrong:
    train t { optimizer sgd(lr: 10) }

Fixed:
    train t { optimizer sgd(lr: 1e-2) }        (or add a warm-up, or normalise the input)";

    WeightsMismatch = "E0062", "weights do not fit the architecture",
"A weights file was read, but its tensors do not match the declared architecture: keys are missing or
unexpected, or a shape differs. The message lists the first of each.

Wrong:
    model m = resnet50 { weights \"resnet18.safetensors\" }

Fixed:
    model m = resnet18 { weights \"resnet18.safetensors\" }";

    DeviceUnavailable = "E0063", "the device is not available",
"`--device cuda` needs a build with the `cuda` feature and a machine with an NVIDIA driver; `cuda:N` needs
at least N+1 GPUs.

Wrong:
    study run s.study --device cuda          (a build without --features cuda)

Fixed:
    cargo build --release --features cuda
    study run s.study --device cuda";

    OutOfMemory = "E0064", "out of memory on the device",
"The device ran out of memory while a cell trained or predicted. Lower the batch size or the input size,
or choose a smaller architecture.

Wrong:
    train t { batch 512 }

Fixed:
    train t { batch 32 }";

    LockMismatch = "E0065", "input files differ from the lock",
"`study run --locked` compares every input file (manifests, images, masks, weights) with the content
hashes in `study.lock`. Some differ or are missing, so the run would not reproduce the locked study.

Wrong:
    an image was re-exported after `study lock` was run

Fixed:
    obtain the exact files the lock lists, or run `study lock` again to accept the new data";

    OutputWrite = "E0066", "cannot write outputs",
"A file under the output folder could not be written (disk full, no permission, read-only file system).
Nothing half-written is kept; once the cause is fixed, a rerun continues where this one stopped.

Wrong:
    study run s.study --out /read-only/place

Fixed:
    study run s.study --out results";

    CorruptOutput = "E0067", "a finished cell's output cannot be read",
"A cell folder under `<out>/cells/` is marked done but one of its files is missing or unreadable, usually
because it was edited or truncated by hand. Delete that cell's folder; the next run recomputes it.

Wrong:
    editing results/cells/<id>/predictions.json by hand

Fixed:
    rm -r results/cells/<id> && study run s.study";

    NothingToTrain = "E0068", "nothing left to train on",
"After the crop and the split, a training partition has no images, or only one class. Lung-box crops drop
images whose lung box is too small, and a target such as `source` needs at least two values in training.

Wrong:
    probe p = predict(source) { split s, ... }   (s trains on one source only)

Fixed:
    train the probe on a split whose training partition holds at least two sources";

    Internal = "E0069", "internal error",
"Something inside study failed that no input should be able to cause. The cell stops, the run goes on
under --keep-going, and nothing half-written is kept. Please report it with <out>/run.log.

Wrong:
    (nothing in the study; this is a defect of the tool)

Fixed:
    report the message and the run log; meanwhile --only can run the other cells";

    Unused = "W0001", "declaration is never used",
"A declaration is not referenced by any experiment, probe, hypothesis or other declaration. It does not
change the plan; remove it or use it. This is a warning: the study is still valid.

Wrong:
    model spare = cnn(channels: [8])      (never referenced)

Fixed:
    remove it, or add it to an experiment grid: grid { model [small, spare] }";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "study::{}", self.id())
    }
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.id().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// Codes found while reading data (E0040 to E0059), not in the study text.
    pub fn is_data(self) -> bool {
        ("E0040".."E0060").contains(&self.id())
    }

    /// Codes found while running a plan (E0060 to E0079): devices, training, outputs, locks.
    pub fn is_run(self) -> bool {
        ("E0060".."E0080").contains(&self.id())
    }

    /// Looks a code up by `E0012`, `e0012` or `study::E0012`.
    pub fn parse(text: &str) -> Option<Code> {
        let text = text.trim();
        let text = text.strip_prefix("study::").unwrap_or(text);
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.id().eq_ignore_ascii_case(text))
    }
}

/// A labelled place in a source file.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// One finding about a study: a code, a message, labelled spans, and a help line.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    /// The primary label: the exact place that is wrong.
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// A secondary label: another place involved.
    pub fn also(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map(|l| l.span)
    }
}

/// Diagnostics collected over a whole run of a stage: all of them, not the first only.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Sorted by file and position so output is stable and reads top to bottom.
    pub fn sorted(mut self) -> Self {
        self.items.sort_by_key(|d| {
            let s = d.primary_span();
            (s.map(|s| (s.file, s.start, s.end)), d.code)
        });
        self
    }
}

// ---------------------------------------------------------------------------------------------------------
// Rendering

/// How diagnostics are drawn.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    pub unicode: bool,
    pub width: usize,
}

impl Style {
    /// Plain ASCII, no colour: the form snapshot tests and logs use.
    pub fn plain() -> Self {
        Style {
            color: false,
            unicode: false,
            width: 100,
        }
    }
}

/// Adapter that hands one diagnostic, with its file's text, to miette.
struct Rendered<'a> {
    diag: &'a Diagnostic,
    /// Labels in this file are drawn here; labels in other files become related notes.
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered<'a>>,
    note: Option<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered")
            .field("code", &self.diag.code)
            .finish()
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.note {
            Some(note) => f.write_str(note),
            None => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.note
            .is_none()
            .then(|| Box::new(self.diag.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match (self.note.is_some(), self.diag.severity()) {
            (true, _) => miette::Severity::Advice,
            (false, Severity::Error) => miette::Severity::Error,
            (false, Severity::Warning) => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.note.is_some() {
            return None;
        }
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as Box<_>)
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        (!self.related.is_empty())
            .then(|| Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)) as Box<_>)
    }
}

fn labeled(label: &Label) -> LabeledSpan {
    let span = SourceSpan::new(label.span.start.into(), label.span.len());
    let text = (!label.message.is_empty()).then(|| label.message.clone());
    if label.primary {
        LabeledSpan::new_primary_with_span(text, span)
    } else {
        LabeledSpan::new_with_span(text, span)
    }
}

fn named_source(sources: &SourceMap, span: Span) -> NamedSource<String> {
    let file = sources.get(span.file);
    NamedSource::new(file.name.clone(), file.text.clone())
}

fn adapt<'a>(diag: &'a Diagnostic, sources: &SourceMap) -> Rendered<'a> {
    let Some(home) = diag.primary_span().map(|s| s.file) else {
        return Rendered {
            diag,
            source: None,
            labels: vec![],
            related: vec![],
            note: None,
        };
    };
    let source = diag.primary_span().map(|s| named_source(sources, s));
    let labels = diag
        .labels
        .iter()
        .filter(|l| l.span.file == home)
        .map(labeled)
        .collect();
    let related = diag
        .labels
        .iter()
        .filter(|l| l.span.file != home)
        .map(|l| Rendered {
            diag,
            source: Some(named_source(sources, l.span)),
            labels: vec![labeled(&Label {
                primary: true,
                ..l.clone()
            })],
            related: vec![],
            note: Some(format!("see {}", sources.location(l.span))),
        })
        .collect();
    Rendered {
        diag,
        source,
        labels,
        related,
        note: None,
    }
}

/// Renders one diagnostic as rustc-like text.
pub fn render(diag: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, true) => GraphicalTheme::ascii(),
        (false, false) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false)
        .with_urls(false)
        .with_context_lines(1);
    let mut out = String::new();
    let rendered = adapt(diag, sources);
    if handler.render_report(&mut out, &rendered).is_err() {
        // A rendering failure must not hide the diagnostic itself.
        out = format!("{}: {}\n", diag.code, diag.message);
    }
    out
}

/// Renders all diagnostics, then a summary line.
pub fn render_all(diags: &Diagnostics, sources: &SourceMap, style: Style) -> String {
    let mut out = String::new();
    for d in &diags.items {
        out.push_str(&render(d, sources, style));
        out.push('\n');
    }
    let errors = diags.items.iter().filter(|d| d.is_error()).count();
    let warnings = diags.items.len() - errors;
    if errors + warnings > 0 {
        out.push_str(&format!("{} error(s), {} warning(s)\n", errors, warnings));
    }
    out
}

/// A diagnostic as JSON for editors and CI: file, 1-based line and column of every label.
pub fn to_json(diag: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let labels: Vec<_> = diag
        .labels
        .iter()
        .map(|l| {
            let file = sources.get(l.span.file);
            let (line, column) = file.line_col(l.span.start);
            let (end_line, end_column) = file.line_col(l.span.end);
            serde_json::json!({
                "file": file.name,
                "start": l.span.start,
                "end": l.span.end,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "message": l.message,
                "primary": l.primary,
            })
        })
        .collect();
    serde_json::json!({
        "code": format!("study::{}", diag.code.id()),
        "severity": diag.severity(),
        "message": diag.message,
        "help": diag.help,
        "labels": labels,
    })
}
