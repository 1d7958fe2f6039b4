//! parse → check → plan → fmt on any bytes, with three properties: nothing panics (diagnostics render too),
//! formatting is idempotent (`fmt(fmt(x)) = fmt(x)`), and formatting keeps the meaning
//! (`fingerprint(fmt(x)) = fingerprint(x)`). See fuzz/README.md.

#![no_main]

use libfuzzer_sys::fuzz_target;
use study::diagnostics::{Style, render_all};
use study::source::FileId;

fuzz_target!(|data: &[u8]| {
    // No folder: includes cannot reach files, so every run sees only its own bytes.
    let loaded = study::load_bytes("fuzz.study", data, None);
    std::hint::black_box(render_all(&loaded.diagnostics, &loaded.sources, Style::plain()));
    let fingerprint = loaded.study.as_ref().map(|s| {
        let plan = study::plan::plan(s);
        std::hint::black_box(study::plan::summary(&plan, std::path::Path::new("out")));
        plan.fingerprint
    });
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(formatted) = study::syntax::format::format_text(FileId(0), text) else {
        return;
    };
    let again = study::syntax::format::format_text(FileId(0), &formatted)
        .unwrap_or_else(|d| panic!("formatted text does not parse: {:?}\n{formatted}", d[0].message));
    assert_eq!(again, formatted, "formatting is not idempotent");
    let reloaded = study::load_bytes("fuzz.study", formatted.as_bytes(), None);
    let refingerprint = reloaded.study.as_ref().map(|s| study::plan::fingerprint(s));
    match (&fingerprint, &refingerprint) {
        (Some(a), Some(b)) => assert_eq!(a, b, "formatting changed the meaning"),
        (None, None) => {}
        _ => panic!(
            "formatting changed validity: {:?} before, {:?} after",
            loaded.diagnostics.codes(),
            reloaded.diagnostics.codes()
        ),
    }
});
