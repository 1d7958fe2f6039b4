//! Diagnostics known to be poor, in the style of PRQL's `bad_error_messages.rs`: each test pins what the
//! tool prints today for a mistake people make, with a comment saying what it should say. Improving a
//! message changes its snapshot here; the improved case then moves to `tests/ui/` with its code.

use study::diagnostics::{Style, render_all};

const BASE: &str = r#"study "x" { seed 1 }
dataset d = synthetic { source a { images 20, covid 50% }, source b { images 20 } }
crop full = full
preprocess p { resize 64 }
model m = cnn(channels: [8, 16])
train t { optimizer adam(lr: 1e-3), epochs 2 }
split s = by_source { data d, seen [a], unseen [b] }
experiment e { model m, crop full, split s, preprocess p, train t }
probe g = gap(e)
"#;

/// What `study check` prints for the base study with `from` replaced by `to` (or `extra` appended).
fn rendered(from: &str, to: &str, extra: &str) -> String {
    assert!(BASE.contains(from), "the base study has no `{from}`");
    let text = BASE.replacen(from, to, 1) + extra;
    let loaded = study::load_bytes("bad.study", text.as_bytes(), None);
    assert!(loaded.study.is_none(), "the study must be invalid");
    render_all(&loaded.diagnostics, &loaded.sources, Style::plain())
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "bad_diagnostics", prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn curly_quotes_pasted_from_a_document() {
    // Should say: `“` is a curly quote; strings and source names use straight quotes `"a"` (as rustc's
    // unicode_chars table names look-alike characters).
    snapshot("curly_quotes", &rendered("seen [a]", "seen [“a”]", ""));
}

#[test]
fn a_non_breaking_space() {
    // Should say: U+00A0 NO-BREAK SPACE is not white space here; it shows as ` `, invisible in the message.
    snapshot(
        "non_breaking_space",
        &rendered("epochs 2 }", "epochs 2\u{a0}}", ""),
    );
}

#[test]
fn a_unicode_hyphen_in_a_number() {
    // Should say: `‑` (U+2011 NON-BREAKING HYPHEN) looks like `-` but is not; write `1e-3`. Today it
    // complains about a unit at the `e`.
    snapshot(
        "unicode_hyphen",
        &rendered("lr: 1e-3", "lr: 1e\u{2011}3", ""),
    );
}

#[test]
fn a_mathematical_comparison_sign() {
    // Should say: `≥` is written `>=` (with a fix-it), instead of listing every token that could follow.
    snapshot(
        "greater_or_equal_sign",
        &rendered(
            "",
            "",
            "hypothesis h \"x\" { confirmed when g.gap.lower \u{2265} 0.1 }\n",
        ),
    );
}
