//! Every `study` code block in the documentation parses, so the docs cannot drift from the grammar.

use study::source::FileId;

fn blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, "```study") => current = Some((i + 1, String::new())),
            (Some(_), "```") => out.extend(current.take()),
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
fn language_examples_parse() {
    let doc = std::fs::read_to_string("docs/language.md").expect("docs/language.md");
    let blocks = blocks(&doc);
    assert!(blocks.len() >= 15, "only {} examples", blocks.len());
    for (line, text) in blocks {
        if let Err(errors) = study::syntax::parse_file(FileId(0), &text) {
            panic!("docs/language.md example at line {line} does not parse: {errors:?}\n{text}");
        }
    }
}

#[test]
fn the_readme_tour_is_a_valid_study() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let blocks = blocks(&readme);
    assert_eq!(blocks.len(), 1, "the README has one tour");
    let loaded = study::load_bytes("tour.study", blocks[0].1.as_bytes(), None);
    let rendered = study::diagnostics::render_all(
        &loaded.diagnostics,
        &loaded.sources,
        study::diagnostics::Style::plain(),
    );
    assert!(
        loaded.study.is_some() && loaded.diagnostics.items.is_empty(),
        "{rendered}"
    );
}
