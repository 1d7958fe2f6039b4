//! Lexical problems are reported at their cause, before any syntax error they would lead to: characters
//! that look like ASCII or cannot be seen (named by code point), UTF-16 files, unterminated strings and
//! comments, and brackets that do not pair.

use study::diagnostics::Code;

const VALID: &str = "study \"x\" { seed 1 }\n\nmodel small = cnn(channels: [8, 16], dropout: 0.1)\ntrain quick { optimizer adam(lr: 1e-3), epochs 2 }\n";

fn load(text: &[u8]) -> study::LoadedStudy {
    study::load_bytes("input.study", text, None)
}

fn codes(text: &[u8]) -> Vec<Code> {
    load(text)
        .diagnostics
        .items
        .iter()
        .map(|d| d.code)
        .collect()
}

/// A character of every kind the lexical pass names, with its code point.
const LOOKALIKES: &[(char, &str)] = &[
    ('\u{a0}', "U+00A0"),
    ('\u{200b}', "U+200B"),
    ('\u{feff}', "U+FEFF"),
    ('\u{c}', "U+000C"),
    ('\u{0}', "U+0000"),
    ('\u{2013}', "U+2013"),
    ('\u{2212}', "U+2212"),
    ('\u{201c}', "U+201C"),
    ('\u{0430}', "U+0430"),
    ('\u{03bf}', "U+03BF"),
    ('\u{ff08}', "U+FF08"),
    ('\u{2264}', "U+2264"),
    ('\u{4e2d}', "U+4E2D"),
];

#[test]
fn a_strange_character_anywhere_in_code_is_named_and_is_the_only_error() {
    // Every position that is code (not inside a string or comment), for every kind of character.
    let in_string =
        |i: usize| VALID[..i].matches('"').count() % 2 == 1 || VALID[..i].ends_with('"') && i > 0;
    for (c, point) in LOOKALIKES {
        // A byte order mark is allowed as the very first character.
        let first = usize::from(*c == '\u{feff}');
        for (i, _) in VALID
            .char_indices()
            .skip(first)
            .filter(|(i, _)| !in_string(*i))
        {
            let mut text = VALID.to_string();
            text.insert(i, *c);
            let loaded = load(text.as_bytes());
            let items = &loaded.diagnostics.items;
            assert!(
                !items.is_empty() && items.iter().all(|d| d.code == Code::BadCharacter),
                "{point} at {i}: {:?}",
                loaded.diagnostics.codes()
            );
            assert!(
                items[0].message.contains(point),
                "{point} at {i} is not named: {}",
                items[0].message
            );
            assert_eq!(
                items[0].primary_span().map(|s| s.start),
                Some(i),
                "{point} is reported where it is"
            );
        }
    }
}

#[test]
fn strange_characters_inside_strings_and_comments_are_text() {
    let text = format!(
        "{VALID}// a comment with – “quotes” and \u{a0}\nexperiment e \"Pneumonía – d’Hôpital 中\" {{ model small }}\n"
    );
    assert!(!codes(text.as_bytes()).contains(&Code::BadCharacter));
}

#[test]
fn a_byte_order_mark_is_allowed_only_at_the_start() {
    let text = format!("\u{feff}{VALID}");
    assert!(!codes(text.as_bytes()).contains(&Code::BadCharacter));
}

#[test]
fn utf16_files_are_named_as_such() {
    let utf16 = |big_endian: bool, bom: bool| {
        let mut bytes = Vec::new();
        if bom {
            bytes.extend(if big_endian {
                [0xfe, 0xff]
            } else {
                [0xff, 0xfe]
            });
        }
        for unit in VALID.encode_utf16() {
            bytes.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        bytes
    };
    for (big_endian, bom) in [(false, true), (true, true), (false, false), (true, false)] {
        let loaded = load(&utf16(big_endian, bom));
        assert_eq!(loaded.diagnostics.codes(), ["E0003"]);
        assert!(loaded.diagnostics.items[0].message.contains("UTF-16"));
        // The quoted text is the decoded file, readable.
        assert!(
            loaded
                .sources
                .get(loaded.diagnostics.items[0].primary_span().unwrap().file)
                .text
                .starts_with("study \"x\"")
        );
    }
}

#[test]
fn unterminated_strings_and_comments_point_at_their_start() {
    for (text, at) in [
        ("study \"x { seed 1 }\n", 6),
        (
            "study \"x\" { seed 1 }\n/* open\nmodel m = cnn(channels: [8])\n",
            21,
        ),
        (
            "study \"x\" { seed 1 }\r/* open\rmodel m = cnn(channels: [8])\r",
            21,
        ),
    ] {
        let loaded = load(text.as_bytes());
        assert_eq!(loaded.diagnostics.codes(), ["E0009"], "{text:?}");
        assert_eq!(
            loaded.diagnostics.items[0].primary_span().map(|s| s.start),
            Some(at)
        );
    }
}

#[test]
fn an_unclosed_bracket_is_reported_at_the_opener_whatever_the_line_endings() {
    for newline in ["\n", "\r\n", "\r"] {
        let text = [
            "study \"x\" { seed 1 }",
            "dataset d = synthetic {",
            "  size 64",
            "model m = cnn(channels: [8])",
            "",
        ]
        .join(newline);
        let loaded = load(text.as_bytes());
        assert_eq!(loaded.diagnostics.codes(), ["E0037"], "{newline:?}");
        let opener = text.find("synthetic {").unwrap() + "synthetic ".len();
        assert_eq!(
            loaded.diagnostics.items[0].primary_span().map(|s| s.start),
            Some(opener)
        );
    }
}

#[test]
fn a_line_comment_ends_at_a_lone_carriage_return() {
    // Old Mac line endings: the comment ends at `\r`, the rest of the file is code.
    let text = "// header\rstudy \"x\" { seed 1 }\rmodel small = cnn(channels: [8, 16])\r";
    let loaded = load(text.as_bytes());
    assert!(loaded.study.is_some(), "{:?}", loaded.diagnostics.codes());
}

#[test]
fn a_misspelt_required_entry_is_one_error_not_two() {
    let text = VALID.replace("optimizer", "optimiser");
    assert_eq!(codes(text.as_bytes()), [Code::UnknownEntry]);
    let text = VALID.replace("adam(lr:", "adam(learning_rate:");
    let all = codes(text.as_bytes());
    assert!(all.contains(&Code::UnknownEntry), "{all:?}");
}

#[test]
fn utf8_text_with_nul_bytes_is_not_taken_for_utf16() {
    // Found by fuzzing: a comment holding NULs at every other byte, after a byte order mark. Formatting
    // drops the mark, which moved the NULs to even offsets and made the formatted file "UTF-16".
    let input = b"\xef\xbb\xbf//No\x002\x00\x10\x00x";
    let formatted = study::syntax::format::format_text(
        study::source::FileId(0),
        std::str::from_utf8(input).unwrap(),
    )
    .expect("a comment formats");
    for bytes in [&input[..], formatted.as_bytes()] {
        let loaded = load(bytes);
        assert!(
            !loaded.diagnostics.codes().contains(&"E0003"),
            "{bytes:?}: {:?}",
            loaded.diagnostics.codes()
        );
    }
}
