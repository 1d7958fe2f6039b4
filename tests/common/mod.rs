//! Helpers shared by the integration tests.

use std::path::Path;
use study::study::Study;

/// Checks study text (includes resolve against `dir`), failing the test with the rendered diagnostics.
pub fn checked(text: &str, dir: &Path) -> Study {
    let loaded = study::load_bytes("t.study", text.as_bytes(), Some(dir));
    let rendered = study::diagnostics::render_all(
        &loaded.diagnostics,
        &loaded.sources,
        study::diagnostics::Style::plain(),
    );
    loaded
        .study
        .unwrap_or_else(|| panic!("invalid study:\n{rendered}"))
}
