//! Every diagnostic the tool can print: one `Code` enum with stable codes and titles, their long
//! explanations in `docs/codes/<code>.md` (`study explain CODE`), one `Diagnostic` value type, rendering
//! to text (miette) and JSON, and the did-you-mean suggestions messages use.

mod note;
mod suggest;
pub mod unicode;

pub use note::render_note;
pub use suggest::{did_you_mean, suggest};

use crate::source::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde::Serialize;
use std::fmt;

/// A typed error that becomes diagnostics (after Nickel's `IntoDiagnostics`). `context` is what it needs
/// to point at the study text (for errors of later stages, the checked study, whose declarations keep
/// their spans); `sources` receives the files it quotes (a manifest, an image folder).
pub trait IntoDiagnostics<C: ?Sized> {
    fn into_diagnostics(self, context: &C, sources: &mut SourceMap) -> Diagnostics;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $variant:ident = $id:literal, $title:literal; )*) => {
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

            /// The long explanation with a wrong and a fixed example: `docs/codes/<id>.md`.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => include_str!(concat!("../../docs/codes/", $id, ".md"))),*
                }
                .trim_end()
            }
        }
    };
}

codes! {
    Syntax = "E0001", "syntax error";

    Unreadable = "E0002", "file cannot be read";

    NotUtf8 = "E0003", "file is not valid UTF-8";

    IncludeCycle = "E0004", "include cycle";

    TooLarge = "E0005", "file too large";

    TooDeep = "E0006", "nesting too deep";

    BadEscape = "E0007", "invalid escape in string";

    BadNumber = "E0008", "number cannot be represented";

    Unterminated = "E0009", "unterminated string or comment";

    MissingHeader = "E0010", "missing or repeated study header";

    DuplicateName = "E0011", "name declared twice";

    UndefinedName = "E0012", "undefined name";

    WrongKind = "E0013", "reference to a declaration of the wrong kind";

    UnknownConstructor = "E0014", "unknown variant";

    UnknownEntry = "E0015", "unknown entry or parameter";

    MissingEntry = "E0016", "required entry or parameter missing";

    DuplicateEntry = "E0017", "entry given twice";

    WrongType = "E0018", "value of the wrong type";

    OutOfRange = "E0019", "value out of range";

    FractionSum = "E0020", "fractions do not add up";

    InputTooSmall = "E0021", "input too small for the network";

    TooFewSources = "E0022", "leave-one-source-out needs at least two sources";

    SeenAndUnseen = "E0023", "source both seen and unseen";

    UnknownField = "E0024", "unknown result field";

    BadRule = "E0025", "hypothesis without a usable decision rule";

    AmbiguousSelection = "E0026", "experiment result needs a grid selection";

    UnknownSource = "E0027", "unknown source";

    UnknownClass = "E0028", "unknown class";

    UnknownPartition = "E0029", "unknown partition";

    EmptyGrid = "E0030", "grid is empty or malformed";

    Cycle = "E0031", "declarations depend on each other in a cycle";

    MissingName = "E0032", "declaration without a name";

    UnknownMetric = "E0033", "unknown metric";

    IncompatibleChoice = "E0034", "incompatible settings";

    OutsideStudy = "E0035", "path outside the study's folder";

    TooManyTrainings = "E0036", "the study would train more models than its limit";

    Unclosed = "E0037", "unclosed or mismatched bracket";

    BadCharacter = "E0038", "character that looks like another, cannot be seen, or is not allowed outside a string";

    DataMissing = "E0040", "data file or folder not found";

    CsvMalformed = "E0041", "manifest is not readable CSV";

    MissingColumn = "E0042", "manifest lacks a mapped column";

    BadValue = "E0043", "manifest value cannot be used";

    BadImage = "E0044", "image cannot be decoded";

    BadDicom = "E0045", "DICOM file cannot be used";

    EmptyData = "E0046", "no images";

    DuplicateImage = "E0047", "image listed twice";

    PatientConflict = "E0048", "one patient with conflicting metadata";

    MaskMismatch = "E0049", "mask size differs from its image";

    MissingClass = "E0050", "a partition lacks a class";

    ImageTooLarge = "E0051", "image has more pixels than the dataset's limit";

    FileUnreadable = "E0052", "file too large, or not a regular file";

    OtherStudy = "E0060", "the output folder belongs to another study or holds other files";

    Diverged = "E0061", "training diverged";

    WeightsMismatch = "E0062", "weights do not fit the architecture";

    DeviceUnavailable = "E0063", "the device is not available";

    OutOfMemory = "E0064", "out of memory on the device";

    LockMismatch = "E0065", "input files differ from the lock";

    OutputWrite = "E0066", "cannot write outputs";

    CorruptOutput = "E0067", "a finished cell's output cannot be read";

    NothingToTrain = "E0068", "nothing left to train on";

    Internal = "E0069", "internal error";

    OutputInUse = "E0070", "the output folder is being written by another run";

    Slurm = "E0071", "the Slurm cluster refused or lost a cell";

    BadAssumption = "E0072", "an assumed value names no result a rule reads";

    InputsMoved = "E0073", "input files changed while the run read them";

    WouldOverwrite = "E0074", "the command would overwrite a file it did not write";

    Altered = "E0075", "a plan or archive differs from what made it";

    Unused = "W0001", "declaration is never used";

    Suspicious = "W0002", "value allowed but likely a mistake";

    Undecidable = "W0003", "hypothesis inconclusive by design";
}

/// What `study explain CODE` prints (`all`: every code with its title), or why there is nothing.
pub fn explain(code: &str) -> Result<String, String> {
    if code.eq_ignore_ascii_case("all") {
        return Ok(Code::ALL
            .iter()
            .map(|c| format!("{c}  {}\n", c.title()))
            .collect());
    }
    let c = Code::parse(code)
        .ok_or_else(|| format!("unknown code `{code}`; `study explain all` lists every code"))?;
    Ok(format!("{c}: {}\n\n{}\n", c.title(), c.explanation()))
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
    /// The codes of the diagnostics, in order (`["E0029"]`).
    pub fn codes(&self) -> Vec<&'static str> {
        self.items.iter().map(|d| d.code.id()).collect()
    }

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
struct MietteView<'a> {
    diag: &'a Diagnostic,
    /// Labels in this file are drawn here; labels in other files become related notes.
    source: Option<FileView<'a>>,
    labels: Vec<LabeledSpan>,
    related: Vec<MietteView<'a>>,
    note: Option<String>,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MietteView")
            .field("code", &self.diag.code)
            .finish()
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.note {
            Some(note) => f.write_str(note),
            None => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
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

/// A study file as miette reads it, without copying it: each quote is cut from the lines around its span
/// (found by binary search) and handed to miette's own reader, so rendering n diagnostics of a large
/// file costs O(n log lines), not O(n × file size).
struct FileView<'a> {
    file: &'a crate::source::SourceFile,
}

impl miette::SourceCode for FileView<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let (start, end) = (span.offset(), span.offset() + span.len());
        // One more line on each side than asked, so that miette chooses its context as in the whole file.
        let (from, to, first_line) = self.file.lines_around(start, end, before.max(after) + 1);
        let window = self.file.quoted_text().get(from..to).unwrap_or("");
        let local = SourceSpan::new((start.saturating_sub(from)).into(), span.len());
        let inner = window.read_span(&local, before, after)?;
        let data: &'b [u8] = inner.data();
        let found = inner.span();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.name.clone(),
            data,
            SourceSpan::new((found.offset() + from).into(), found.len()),
            inner.line() + first_line,
            inner.column(),
            // miette counts the lines from the start of the source to the end of the quote.
            inner.line_count() + first_line,
        )))
    }
}

fn named_source(sources: &SourceMap, span: Span) -> FileView<'_> {
    FileView {
        file: sources.get(span.file),
    }
}

fn adapt<'a>(diag: &'a Diagnostic, sources: &'a SourceMap) -> MietteView<'a> {
    let Some(home) = diag.primary_span().map(|s| s.file) else {
        return MietteView {
            diag,
            source: None,
            labels: vec![],
            related: vec![],
            note: None,
        };
    };
    // A label on a line too long to quote (a generated or minified file) is named by its place instead:
    // the quote would be unreadable, and miette cannot draw columns that far.
    let quotable = |l: &&Label| !on_long_line(sources, l.span);
    let unquoted = diag
        .labels
        .iter()
        .filter(|l| !quotable(l))
        .map(|l| MietteView {
            diag,
            source: None,
            labels: vec![],
            related: vec![],
            note: Some(format!(
                "{}: {} (the line is too long to quote)",
                sources.location(l.span),
                if l.message.is_empty() {
                    "here"
                } else {
                    &l.message
                }
            )),
        });
    let source = diag.primary_span().map(|s| named_source(sources, s));
    let labels = diag
        .labels
        .iter()
        .filter(|l| l.span.file == home)
        .filter(quotable)
        .map(labeled)
        .collect();
    let related = diag
        .labels
        .iter()
        .filter(quotable)
        .filter(|l| l.span.file != home)
        .map(|l| MietteView {
            diag,
            source: Some(named_source(sources, l.span)),
            labels: vec![labeled(&Label {
                primary: true,
                ..l.clone()
            })],
            related: vec![],
            note: Some(format!("see {}", sources.location(l.span))),
        })
        .chain(unquoted)
        .collect();
    MietteView {
        diag,
        source,
        labels,
        related,
        note: None,
    }
}

/// Lines longer than this are not quoted under a diagnostic.
const LONGEST_QUOTED_LINE: usize = 4096;

/// True when `span` starts or ends on a line longer than `LONGEST_QUOTED_LINE` bytes.
fn on_long_line(sources: &SourceMap, span: Span) -> bool {
    let file = sources.get(span.file);
    let long = |at: usize| {
        let (start, end, _) = file.lines_around(at, at, 0);
        end - start > LONGEST_QUOTED_LINE
    };
    long(span.start) || long(span.end)
}

/// Renders one diagnostic as rustc-like text.
/// miette's renderer in a style: a line of context around each quote.
fn handler(style: Style) -> GraphicalReportHandler {
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, true) => GraphicalTheme::ascii(),
        (false, false) => GraphicalTheme::none(),
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false)
        .with_urls(false)
        .with_context_lines(1)
}

pub fn render(diag: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let handler = handler(style);
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
