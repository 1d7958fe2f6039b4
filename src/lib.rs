//! `study`: declarative robustness and confounder studies of image classifiers.
//!
//! The pipeline, one stage per module, data flowing one way:
//!
//! ```text
//! .study text ──parse──▶ Ast ──check──▶ Study ──plan──▶ Plan ──run──▶ cells ──report──▶ report.*
//!  (syntax)              (check)        (study)  (plan)       (run, probe) (report)
//! ```

// The data-model enums are built once per study; boxing their big variants would only add noise.
#![allow(clippy::large_enum_variant)]

pub mod backend;
pub mod check;
pub mod data;
pub mod diagnostics;
pub mod eval;
pub mod model;
pub mod plan;
pub mod probe;
pub mod report;
pub mod run;
pub mod source;
pub mod study;
pub mod syntax;
pub mod train;

use diagnostics::Diagnostics;
use source::SourceMap;
use std::path::Path;
use study::Study;

/// A study read from disk: its sources (for rendering diagnostics), the checked study when valid, and
/// every diagnostic found on the way.
pub struct Loaded {
    pub sources: SourceMap,
    pub study: Option<Study>,
    pub diagnostics: Diagnostics,
}

/// Parses and checks a study file and its includes.
pub fn load(path: &Path) -> Loaded {
    finish(syntax::parse_path(path))
}

/// Parses and checks a study held in memory (includes resolve against `dir`).
///
/// ```
/// let text = r#"
/// study "demo" { seed 1 }
/// dataset phantom = synthetic { source a { images 20, covid 50% }, source b { images 20 } }
/// crop full = full
/// preprocess p { resize 64 }
/// model small = cnn(channels: [8, 16])
/// train quick { optimizer adam(lr: 1e-3), epochs 2 }
/// split s = by_source { data phantom, seen [a], unseen [b] }
/// experiment e { model small, crop full, split s, preprocess p, train quick }
/// "#;
/// let loaded = study::load_bytes("demo.study", text.as_bytes(), None);
/// let checked = loaded.study.expect("valid");
/// let plan = study::plan::plan(&checked);
/// assert!(plan.cells.iter().any(|c| c.name == "train/small/full/s/p/quick/rep1"));
///
/// let typo = text.replace("model small,", "model smal,");
/// let loaded = study::load_bytes("demo.study", typo.as_bytes(), None);
/// assert!(loaded.study.is_none());
/// assert_eq!(loaded.diagnostics.items[0].code.id(), "E0012");
/// ```
pub fn load_bytes(name: &str, bytes: &[u8], dir: Option<&Path>) -> Loaded {
    finish(syntax::parse_bytes(name, bytes, dir))
}

fn finish(parsed: syntax::Parsed) -> Loaded {
    let mut diagnostics = parsed.diagnostics;
    if diagnostics.has_errors() {
        return Loaded {
            sources: parsed.sources,
            study: None,
            diagnostics: diagnostics.sorted(),
        };
    }
    let (study, found) = check::check(&parsed.ast, &parsed.sources);
    diagnostics.extend(found);
    Loaded {
        sources: parsed.sources,
        study,
        diagnostics: diagnostics.sorted(),
    }
}
