//! parse → check → plan → fmt on any bytes, with three properties: nothing panics (diagnostics render too),
//! formatting is idempotent (`fmt(fmt(x)) = fmt(x)`), and formatting keeps the meaning
//! (`fingerprint(fmt(x)) = fingerprint(x)`). Each text is parsed once and its tree reused for formatting
//! and checking. See fuzz/README.md.

#![no_main]

use libfuzzer_sys::fuzz_target;
use study::diagnostics::{Style, render_all};
use study::source::{FileId, Reach};
use study::syntax::format::{format_file, format_text};

/// Parses `bytes` (no folder: includes reach no file), formats the root file when it parsed, and checks.
fn load(bytes: &[u8]) -> (Option<String>, study::LoadedStudy) {
    let parsed = study::syntax::parse_bytes("fuzz.study", bytes, None, Reach::StudyTree);
    let formatted = match (parsed.ast.files.first(), std::str::from_utf8(bytes)) {
        // The layout of `\n` text comes from the tree at hand; other line endings take the full path.
        (Some(file), Ok(text)) if !text.contains('\r') => Some(format_file(file, text)),
        (Some(_), Ok(text)) => format_text(FileId(0), text).ok(),
        _ => None,
    };
    (formatted, study::check_parsed(parsed, Reach::StudyTree))
}

fn fingerprint(loaded: &study::LoadedStudy) -> Option<String> {
    loaded.study.as_ref().map(study::plan::fingerprint)
}

fuzz_target!(|data: &[u8]| {
    let (formatted, loaded) = load(data);
    std::hint::black_box(render_all(&loaded.diagnostics, &loaded.sources, Style::plain()));
    if let Some(s) = &loaded.study {
        let plan = study::plan::plan(s);
        std::hint::black_box(study::plan::summary(&plan, std::path::Path::new("out")));
    }
    let Some(formatted) = formatted else {
        return;
    };
    let (again, reloaded) = load(formatted.as_bytes());
    let again = again.unwrap_or_else(|| {
        panic!("formatted text does not parse: {:?}\n{formatted}", reloaded.diagnostics.codes())
    });
    assert_eq!(again, formatted, "formatting is not idempotent");
    match (fingerprint(&loaded), fingerprint(&reloaded)) {
        (Some(a), Some(b)) => assert_eq!(a, b, "formatting changed the meaning"),
        (None, None) => {}
        _ => panic!(
            "formatting changed validity: {:?} before, {:?} after",
            loaded.diagnostics.codes(),
            reloaded.diagnostics.codes()
        ),
    }
});
