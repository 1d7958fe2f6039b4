//! Why a cell could not finish, and how that becomes a diagnostic pointing at the study.

use crate::data::Problem;
use crate::diagnostics::{Code, Diagnostic, Diagnostics, IntoDiagnostics};
use crate::source::SourceMap;
use crate::study::Study;
use std::path::Path;

/// Why a cell could not finish.
#[derive(Clone, Debug, PartialEq)]
pub enum CellError {
    /// The data could not be read (files, manifests, images): shown with the files' snippets.
    Data(Vec<Problem>),
    Fault {
        code: Code,
        message: String,
        help: Option<String>,
        /// The declaration the failure belongs to: (kind keyword, name).
        declaration: Option<(String, String)>,
    },
}

impl CellError {
    pub fn fault(code: Code, message: impl Into<String>) -> Self {
        CellError::Fault {
            code,
            message: message.into(),
            help: None,
            declaration: None,
        }
    }

    pub fn io(path: &Path, e: &std::io::Error) -> Self {
        let help = if crate::files::is_disk_full(e) {
            "the disk is full: free space, then run again; finished cells are kept"
        } else {
            "fix the permissions or free disk space; a rerun continues where this run stopped"
        };
        CellError::fault(Code::OutputWrite, format!("{}: {e}", path.display())).help(help)
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        if let CellError::Fault { help, .. } = &mut self {
            *help = Some(text.into());
        }
        self
    }

    /// Names the declaration the failure belongs to (`"train"`, `"quick"`).
    pub fn of(mut self, kind: &str, name: &str) -> Self {
        if let CellError::Fault { declaration, .. } = &mut self
            && declaration.is_none()
        {
            *declaration = Some((kind.to_string(), name.to_string()));
        }
        self
    }

    /// The fix a fault suggests, if any.
    pub fn help_text(&self) -> Option<&str> {
        match self {
            CellError::Fault { help, .. } => help.as_deref(),
            CellError::Data(problems) => problems.first().map(|p| p.help.as_str()),
        }
    }

    /// One line for logs and reports.
    pub fn summary(&self) -> String {
        match self {
            CellError::Data(problems) => {
                let first = problems
                    .first()
                    .map_or(String::new(), |p| format!("{} {}", p.code.id(), p.message));
                if problems.len() > 1 {
                    format!("{first} (and {} more data problems)", problems.len() - 1)
                } else {
                    first
                }
            }
            CellError::Fault {
                code,
                message,
                declaration,
                ..
            } => match declaration {
                Some((kind, name)) => format!("{} {message} ({kind} `{name}`)", code.id()),
                None => format!("{} {message}", code.id()),
            },
        }
    }
}

/// Diagnostics pointing at the study (and at data files for data problems).
impl IntoDiagnostics<Study> for &CellError {
    fn into_diagnostics(self, study: &Study, sources: &mut SourceMap) -> Diagnostics {
        match self {
            CellError::Data(problems) => problems.as_slice().into_diagnostics(study, sources),
            CellError::Fault {
                code,
                message,
                help,
                declaration,
            } => {
                let mut d = Diagnostic::new(*code, message.clone());
                if let Some((kind, name)) = declaration {
                    match declaration_origin(study, kind, name) {
                        Some(origin) => match origin.span {
                            Some(span) => d = d.at(span, format!("{kind} `{name}` declared here")),
                            None => {
                                d.message = format!(
                                    "{} ({kind} `{name}` at {})",
                                    d.message, origin.location
                                )
                            }
                        },
                        None => d.message = format!("{} ({kind} `{name}`)", d.message),
                    }
                }
                if let Some(h) = help {
                    d = d.help(h.clone());
                }
                let mut out = Diagnostics::default();
                out.push(d);
                out
            }
        }
    }
}

/// The origin of a declaration by kind keyword and name.
fn declaration_origin<'s>(
    study: &'s Study,
    kind: &str,
    name: &str,
) -> Option<&'s crate::study::Origin> {
    match kind {
        "dataset" => study.datasets.get(name).map(|d| &d.origin),
        "segmenter" => study.segmenters.get(name).map(|d| &d.origin),
        "crop" => study.crops.get(name).map(|d| &d.origin),
        "preprocess" => study.preprocessings.get(name).map(|d| &d.origin),
        "model" => study.models.get(name).map(|d| &d.origin),
        "train" => study.trainings.get(name).map(|d| &d.origin),
        "split" => study.splits.get(name).map(|d| &d.origin),
        "experiment" => study.experiments.get(name).map(|d| &d.origin),
        "probe" => study.probes.get(name).map(|d| &d.origin),
        "hypothesis" => study.hypotheses.get(name).map(|d| &d.origin),
        _ => None,
    }
}
