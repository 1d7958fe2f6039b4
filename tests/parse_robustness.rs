//! Whatever bytes arrive, parsing and checking end in a study or in at least one diagnostic, never a
//! panic: random bytes, every truncation, every deleted declaration, token-level mutations, huge and
//! deeply nested inputs.

use proptest::prelude::*;
use study::diagnostics::Code;

const QUICKSTART: &str = include_str!("../studies/quickstart.study");
/// Every construct of the language; it includes `lib/masks.study` from its folder.
const EVERYTHING: &str = include_str!("fixtures/everything.study");

/// Parses and checks; asserts the outcome is a valid study or at least one error.
fn outcome(bytes: &[u8]) -> Option<Vec<Code>> {
    let loaded = study::load_bytes(
        "input.study",
        bytes,
        Some(std::path::Path::new("tests/fixtures")),
    );
    let errors: Vec<Code> = loaded
        .diagnostics
        .items
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect();
    match &loaded.study {
        Some(_) => assert!(errors.is_empty(), "valid study with errors {errors:?}"),
        None => assert!(!errors.is_empty(), "invalid study without an error"),
    }
    // Rendering every diagnostic must not panic either.
    let _ = study::diagnostics::render_all(
        &loaded.diagnostics,
        &loaded.sources,
        study::diagnostics::Style::plain(),
    );
    loaded.study.is_none().then_some(errors)
}

#[test]
fn every_truncation() {
    for text in [QUICKSTART, EVERYTHING] {
        let bytes = text.as_bytes();
        for cut in 0..bytes.len() {
            outcome(&bytes[..cut]);
        }
        assert_eq!(outcome(bytes), None, "the whole study is valid");
    }
}

#[test]
fn deleting_any_one_declaration_or_entry() {
    for text in [QUICKSTART, EVERYTHING] {
        let parsed =
            study::syntax::parse_bytes("q.study", text.as_bytes(), None, Default::default());
        let file = &parsed.ast.files[0];
        let mut spans: Vec<study::source::Span> = file.items.iter().map(|i| i.span()).collect();
        for item in &file.items {
            if let study::syntax::ast::Item::Decl(d) = item {
                spans.extend(
                    d.block
                        .iter()
                        .flat_map(|b| b.items.iter().map(|i| i.span())),
                );
            }
        }
        assert!(spans.len() > 20);
        for span in spans {
            let mut mutated = text.to_string();
            mutated.replace_range(span.start..span.end, "");
            outcome(mutated.as_bytes());
        }
    }
}

#[test]
fn deleting_a_used_declaration_names_the_reference() {
    let text = QUICKSTART.replace("model cnn = cnn(channels: [8, 16, 32], dropout: 0.1)", "");
    let codes = outcome(text.as_bytes()).expect("invalid without its model");
    assert!(codes.contains(&Code::UndefinedName), "{codes:?}");
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let mut big = b"study \"big\" { seed 1 }\n".to_vec();
    big.resize(study::syntax::MAX_FILE_BYTES + 1, b' ');
    assert_eq!(outcome(&big), Some(vec![Code::TooLarge]));
}

#[test]
fn a_ten_megabyte_study_is_handled() {
    let mut text = String::from("study \"ten\" { seed 1 }\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(
            "// a comment line that pads the file out to ten megabytes of perfectly valid text\n",
        );
    }
    let codes = outcome(text.as_bytes());
    // A study with no declarations is valid but empty.
    assert_eq!(codes, None);
    let garbage: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| b"{[(x \"=,"[(i % 8) as usize])
        .collect();
    assert!(outcome(&garbage).is_some());
}

#[test]
fn deep_nesting_and_long_operator_chains_do_not_overflow() {
    let deep = format!(
        "study \"d\" {{}}\nmodel m = cnn(channels: {}8{})",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(outcome(deep.as_bytes()), Some(vec![Code::TooDeep]));
    let nots = format!(
        "study \"n\" {{}}\nhypothesis h \"x\" {{ confirmed when {} 1 > 0 }}",
        "not ".repeat(200_000)
    );
    outcome(nots.as_bytes());
    let negs = format!(
        "study \"n\" {{}}\nhypothesis h \"x\" {{ confirmed when {}1 > 0 }}",
        "-".repeat(200_000)
    );
    outcome(negs.as_bytes());
    let sum = format!(
        "study \"n\" {{}}\nhypothesis h \"x\" {{ confirmed when 1{} > 0 }}",
        " + 1".repeat(200_000)
    );
    outcome(sum.as_bytes());
    let ands = format!(
        "study \"n\" {{}}\nhypothesis h \"x\" {{ confirmed when 1 > 0{} }}",
        " and 1 > 0".repeat(100_000)
    );
    outcome(ands.as_bytes());
}

#[test]
fn a_missing_file_is_a_diagnostic() {
    let loaded = study::load(std::path::Path::new("tests/no-such-study.study"));
    assert!(loaded.study.is_none());
    assert_eq!(loaded.diagnostics.items[0].code, Code::Unreadable);
}

/// Tokens of the quickstart: words, numbers, strings and punctuation.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    for c in text.chars() {
        if in_string {
            current.push(c);
            if c == '"' {
                out.push(std::mem::take(&mut current));
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                current.push(c);
                in_string = true;
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '%' => current.push(c),
            c => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                out.push(c.to_string());
            }
        }
    }
    out.push(current);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        outcome(&bytes);
    }

    #[test]
    fn random_text_with_multi_byte_characters(text in "[a-z_{}\\[\\]()=,.:\"% \n0-9фя数据🫁\u{301}\u{a0}\u{200b}-]{0,300}") {
        outcome(text.as_bytes());
    }

    #[test]
    fn random_text_from_the_language_alphabet(text in "[a-z_{}\\[\\]()=,.:;\"%<>!*/+ \\n0-9-]{0,400}") {
        outcome(text.as_bytes());
    }

    #[test]
    fn token_mutations(
        which in any::<bool>(),
        ops in proptest::collection::vec((0usize..4, any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..6),
    ) {
        let mut toks = tokens(if which { EVERYTHING } else { QUICKSTART });
        let vocabulary = ["{", "}", "[", "]", "(", ")", ",", "=", "==", "and", "not", "model", "crop", "split",
            "\"x\"", "0", "-1", "1e999", "80%", "px", "cnn", "full", "\n", "*", "=>", "when", ".",
            // Multi-byte text: messages that shorten a word must never cut a character in two.
            "фильтр", "数据集数据集数据集数据集数据集", "🫁🫁🫁🫁🫁🫁🫁🫁🫁🫁🫁", "e\u{301}", "\u{a0}", "\u{200b}"];
        for (op, a, b) in ops {
            let i = a.index(toks.len());
            match op {
                0 => { toks.remove(i); }
                1 => { let t = toks[i].clone(); toks.insert(i, t); }
                2 => { let j = b.index(toks.len()); toks.swap(i, j); }
                _ => { toks[i] = vocabulary[b.index(vocabulary.len())].to_string(); }
            }
            if toks.is_empty() { break; }
        }
        outcome(toks.concat().as_bytes());
    }
}

#[test]
fn long_words_of_any_script_next_to_a_syntax_error() {
    // Words of 1 to 60 characters of 1-, 2-, 3- and 4-byte characters, where the parser reports a token
    // it did not expect (the message quotes at most 40 bytes of it).
    for ch in ['a', 'ф', '数', '🫁'] {
        for n in 1..=60 {
            let word: String = std::iter::repeat_n(ch, n).collect();
            for text in [
                format!("study \"x\" {{ seed 1 }}\nmodel m = cnn(channels: [4]) {word}\n"),
                format!("study \"x\" {{ seed 1 }}\nmodel {word} = cnn(channels: [4]\n"),
                format!("study \"x\" {{ seed 1 }}\n{word} m = full\n"),
            ] {
                outcome(text.as_bytes());
            }
        }
    }
}

#[cfg(unix)]
#[test]
fn a_pipe_or_a_device_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("temp");
    let pipe = dir.path().join("pipe.study");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .is_ok_and(|s| s.success());
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.study")).expect("symlink");
    let mut targets = vec!["zero.study"];
    if made {
        targets.push("pipe.study");
    } else {
        eprintln!("mkfifo is not available: the pipe case is skipped");
    }
    for target in targets {
        // As the root file, as an include, and as a manifest: refused at once, naming what it is.
        let root = study::load(&dir.path().join(target));
        let text = format!("study \"x\" {{ seed 1 }}\ninclude \"{target}\"\n");
        // Reaching anywhere: under the study's folder a link to a device is refused as outside (E0035).
        let included = study::load_bytes_with(
            "s.study",
            text.as_bytes(),
            Some(dir.path()),
            study::source::Reach::Anywhere,
        );
        for loaded in [root, included] {
            let rendered = study::diagnostics::render_all(
                &loaded.diagnostics,
                &loaded.sources,
                study::diagnostics::Style::plain(),
            );
            assert!(loaded.study.is_none(), "{target}");
            assert!(
                rendered.contains("not a regular file")
                    && (rendered.contains("a named pipe") || rendered.contains("a device")),
                "{target}: {rendered}"
            );
        }
        let csv = study::data::DataContext {
            root: dir.path().to_path_buf(),
            seed: 1,
        };
        let text = format!(
            "study \"x\" {{ seed 1 }}\ndataset d = csv(\"{target}\") {{ image column \"p\", label column \"l\" }}\n"
        );
        let s = study::load_bytes_with(
            "s.study",
            text.as_bytes(),
            Some(dir.path()),
            study::source::Reach::Anywhere,
        )
        .study
        .expect("valid");
        let problems = study::data::load_dataset(&s, "d", &csv).expect_err("refused");
        assert!(
            problems[0].message.contains("not a regular file"),
            "{}",
            problems[0].message
        );
    }
}

/// The parser has no stack probe of its own (pest without `std`): the lexical pass's depth bound is what
/// keeps recursion shallow. The deepest nesting it accepts, of every bracket kind, parses on a small stack.
#[test]
fn the_deepest_accepted_nesting_parses_on_a_small_stack() {
    const DEPTH: usize = 64;
    let inner = DEPTH - 1;
    let texts = [
        // `{` of the block, then parentheses in a rule.
        format!(
            "study \"d\" {{}}\nhypothesis h \"x\" {{ confirmed when {}1{} > 0 }}",
            "(".repeat(inner),
            ")".repeat(inner)
        ),
        // `(` of the call, then lists.
        format!(
            "study \"d\" {{}}\nmodel m = cnn(channels: {}8{})",
            "[".repeat(inner),
            "]".repeat(inner)
        ),
        // Blocks in blocks.
        format!(
            "study \"d\" {{}}\ndataset d = synthetic {}{}",
            "{ source a ".repeat(DEPTH),
            "}".repeat(DEPTH)
        ),
    ];
    for text in texts {
        let codes = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || outcome(text.as_bytes()))
            .expect("thread")
            .join()
            .expect("no overflow");
        let codes = codes.unwrap_or_default();
        assert!(
            !codes.contains(&Code::TooDeep) && !codes.contains(&Code::Syntax),
            "nesting of {DEPTH} refused: {codes:?}"
        );
    }
}
