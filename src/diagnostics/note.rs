//! Notes that quote places in several files (`study diff`: a declaration before and after), drawn by
//! miette like diagnostics but as advice, without a code.

use super::{FileView, Label, Style, handler, labeled, named_source};
use crate::source::SourceMap;
use miette::LabeledSpan;
use std::fmt;

/// A note with labelled places, possibly in several files (`study diff`: a declaration before and
/// after): drawn as advice, without a code; places in other files than the first label's follow as
/// related notes, each with its own file.
struct NoteView<'a> {
    text: String,
    help: Option<String>,
    source: Option<FileView<'a>>,
    labels: Vec<LabeledSpan>,
    related: Vec<NoteView<'a>>,
}

impl fmt::Debug for NoteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for NoteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for NoteView<'_> {}

impl miette::Diagnostic for NoteView<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
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

/// Renders a note (`text`, then `help`) quoting each labelled place, in whatever file it is.
pub fn render_note(
    text: &str,
    labels: &[Label],
    help: Option<&str>,
    sources: &SourceMap,
    style: Style,
) -> String {
    let home = labels.first().map(|l| l.span.file);
    let view = |file: Option<crate::source::FileId>, text: String, help: Option<String>| NoteView {
        text,
        help,
        source: file
            .and_then(|f| labels.iter().find(|l| l.span.file == f))
            .map(|l| named_source(sources, l.span)),
        labels: labels
            .iter()
            .filter(|l| Some(l.span.file) == file)
            .map(labeled)
            .collect(),
        related: Vec::new(),
    };
    let mut note = view(home, text.to_string(), help.map(String::from));
    let mut others: Vec<crate::source::FileId> = labels
        .iter()
        .map(|l| l.span.file)
        .filter(|f| Some(*f) != home)
        .collect();
    others.sort();
    others.dedup();
    for f in others {
        note.related
            .push(view(Some(f), format!("in {}", sources.get(f).name), None));
    }
    let mut out = String::new();
    if handler(style).render_report(&mut out, &note).is_err() {
        out = format!("{text}\n");
    }
    out
}
