//! Characters that look like ASCII but are not, and characters that cannot be seen: what text copied from
//! a PDF, a word processor or a web page brings into a study. Each has its Unicode name and the ASCII text
//! that was meant (after rustc's `unicode_chars.rs`).

/// A character that is easy to mistake, its Unicode name, and what to write instead (empty: delete it).
pub struct Lookalike {
    pub name: &'static str,
    pub ascii: &'static str,
    pub invisible: bool,
}

/// Characters that render as nothing or as a plain space.
const INVISIBLE: &[(char, &str, &str)] = &[
    ('\u{0}', "NULL", ""),
    ('\u{b}', "LINE TABULATION", " "),
    ('\u{c}', "FORM FEED", ""),
    ('\u{85}', "NEXT LINE", "\n"),
    ('\u{a0}', "NO-BREAK SPACE", " "),
    ('\u{ad}', "SOFT HYPHEN", ""),
    ('\u{1680}', "OGHAM SPACE MARK", " "),
    ('\u{180e}', "MONGOLIAN VOWEL SEPARATOR", ""),
    ('\u{2000}', "EN QUAD", " "),
    ('\u{2001}', "EM QUAD", " "),
    ('\u{2002}', "EN SPACE", " "),
    ('\u{2003}', "EM SPACE", " "),
    ('\u{2004}', "THREE-PER-EM SPACE", " "),
    ('\u{2005}', "FOUR-PER-EM SPACE", " "),
    ('\u{2006}', "SIX-PER-EM SPACE", " "),
    ('\u{2007}', "FIGURE SPACE", " "),
    ('\u{2008}', "PUNCTUATION SPACE", " "),
    ('\u{2009}', "THIN SPACE", " "),
    ('\u{200a}', "HAIR SPACE", " "),
    ('\u{200b}', "ZERO WIDTH SPACE", ""),
    ('\u{200c}', "ZERO WIDTH NON-JOINER", ""),
    ('\u{200d}', "ZERO WIDTH JOINER", ""),
    ('\u{200e}', "LEFT-TO-RIGHT MARK", ""),
    ('\u{200f}', "RIGHT-TO-LEFT MARK", ""),
    ('\u{2028}', "LINE SEPARATOR", "\n"),
    ('\u{2029}', "PARAGRAPH SEPARATOR", "\n"),
    ('\u{202a}', "LEFT-TO-RIGHT EMBEDDING", ""),
    ('\u{202b}', "RIGHT-TO-LEFT EMBEDDING", ""),
    ('\u{202c}', "POP DIRECTIONAL FORMATTING", ""),
    ('\u{202d}', "LEFT-TO-RIGHT OVERRIDE", ""),
    ('\u{202e}', "RIGHT-TO-LEFT OVERRIDE", ""),
    ('\u{202f}', "NARROW NO-BREAK SPACE", " "),
    ('\u{205f}', "MEDIUM MATHEMATICAL SPACE", " "),
    ('\u{2060}', "WORD JOINER", ""),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE", ""),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE", ""),
    ('\u{2068}', "FIRST STRONG ISOLATE", ""),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE", ""),
    ('\u{3000}', "IDEOGRAPHIC SPACE", " "),
    ('\u{feff}', "ZERO WIDTH NO-BREAK SPACE", ""),
];

/// Characters that look like ASCII punctuation or letters.
const CONFUSABLE: &[(char, &str, &str)] = &[
    // Dashes and minus signs (PDFs turn `-` into these).
    ('\u{2010}', "HYPHEN", "-"),
    ('\u{2011}', "NON-BREAKING HYPHEN", "-"),
    ('\u{2012}', "FIGURE DASH", "-"),
    ('\u{2013}', "EN DASH", "-"),
    ('\u{2014}', "EM DASH", "-"),
    ('\u{2015}', "HORIZONTAL BAR", "-"),
    ('\u{2212}', "MINUS SIGN", "-"),
    ('\u{fe63}', "SMALL HYPHEN-MINUS", "-"),
    ('\u{ff0d}', "FULLWIDTH HYPHEN-MINUS", "-"),
    // Quotes (word processors make `"` curly).
    ('\u{201c}', "LEFT DOUBLE QUOTATION MARK", "\""),
    ('\u{201d}', "RIGHT DOUBLE QUOTATION MARK", "\""),
    ('\u{201e}', "DOUBLE LOW-9 QUOTATION MARK", "\""),
    ('\u{201f}', "DOUBLE HIGH-REVERSED-9 QUOTATION MARK", "\""),
    ('\u{2033}', "DOUBLE PRIME", "\""),
    (
        '\u{00ab}',
        "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK",
        "\"",
    ),
    (
        '\u{00bb}',
        "RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK",
        "\"",
    ),
    ('\u{ff02}', "FULLWIDTH QUOTATION MARK", "\""),
    ('\u{2018}', "LEFT SINGLE QUOTATION MARK", "\""),
    ('\u{2019}', "RIGHT SINGLE QUOTATION MARK", "\""),
    ('\u{201a}', "SINGLE LOW-9 QUOTATION MARK", "\""),
    ('\u{2032}', "PRIME", "\""),
    // Operators and punctuation.
    ('\u{00d7}', "MULTIPLICATION SIGN", "*"),
    ('\u{2217}', "ASTERISK OPERATOR", "*"),
    ('\u{00f7}', "DIVISION SIGN", "/"),
    ('\u{2215}', "DIVISION SLASH", "/"),
    ('\u{2044}', "FRACTION SLASH", "/"),
    ('\u{2264}', "LESS-THAN OR EQUAL TO", "<="),
    ('\u{2265}', "GREATER-THAN OR EQUAL TO", ">="),
    ('\u{2260}', "NOT EQUAL TO", "!="),
    ('\u{2261}', "IDENTICAL TO", "=="),
    ('\u{2192}', "RIGHTWARDS ARROW", "=>"),
    ('\u{21d2}', "RIGHTWARDS DOUBLE ARROW", "=>"),
    ('\u{2026}', "HORIZONTAL ELLIPSIS", ".."),
    ('\u{2025}', "TWO DOT LEADER", ".."),
    ('\u{2024}', "ONE DOT LEADER", "."),
    ('\u{00b7}', "MIDDLE DOT", "."),
    ('\u{066a}', "ARABIC PERCENT SIGN", "%"),
    ('\u{2030}', "PER MILLE SIGN", "%"),
    ('\u{201b}', "SINGLE HIGH-REVERSED-9 QUOTATION MARK", "\""),
    ('\u{037e}', "GREEK QUESTION MARK", ";"),
    ('\u{2774}', "MEDIUM LEFT CURLY BRACKET ORNAMENT", "{"),
    ('\u{2775}', "MEDIUM RIGHT CURLY BRACKET ORNAMENT", "}"),
    ('\u{27e8}', "MATHEMATICAL LEFT ANGLE BRACKET", "<"),
    ('\u{27e9}', "MATHEMATICAL RIGHT ANGLE BRACKET", ">"),
    // Letters from other scripts that look Latin.
    ('\u{0430}', "CYRILLIC SMALL LETTER A", "a"),
    ('\u{0441}', "CYRILLIC SMALL LETTER ES", "c"),
    ('\u{0501}', "CYRILLIC SMALL LETTER KOMI DE", "d"),
    ('\u{0435}', "CYRILLIC SMALL LETTER IE", "e"),
    ('\u{04bb}', "CYRILLIC SMALL LETTER SHHA", "h"),
    (
        '\u{0456}',
        "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I",
        "i",
    ),
    ('\u{0458}', "CYRILLIC SMALL LETTER JE", "j"),
    ('\u{043e}', "CYRILLIC SMALL LETTER O", "o"),
    ('\u{0440}', "CYRILLIC SMALL LETTER ER", "p"),
    ('\u{0455}', "CYRILLIC SMALL LETTER DZE", "s"),
    ('\u{0445}', "CYRILLIC SMALL LETTER HA", "x"),
    ('\u{0443}', "CYRILLIC SMALL LETTER U", "y"),
    ('\u{0410}', "CYRILLIC CAPITAL LETTER A", "A"),
    ('\u{0412}', "CYRILLIC CAPITAL LETTER VE", "B"),
    ('\u{0421}', "CYRILLIC CAPITAL LETTER ES", "C"),
    ('\u{0415}', "CYRILLIC CAPITAL LETTER IE", "E"),
    ('\u{041d}', "CYRILLIC CAPITAL LETTER EN", "H"),
    (
        '\u{0406}',
        "CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
        "I",
    ),
    ('\u{0408}', "CYRILLIC CAPITAL LETTER JE", "J"),
    ('\u{041a}', "CYRILLIC CAPITAL LETTER KA", "K"),
    ('\u{041c}', "CYRILLIC CAPITAL LETTER EM", "M"),
    ('\u{041e}', "CYRILLIC CAPITAL LETTER O", "O"),
    ('\u{0420}', "CYRILLIC CAPITAL LETTER ER", "P"),
    ('\u{0405}', "CYRILLIC CAPITAL LETTER DZE", "S"),
    ('\u{0422}', "CYRILLIC CAPITAL LETTER TE", "T"),
    ('\u{0425}', "CYRILLIC CAPITAL LETTER HA", "X"),
    ('\u{03b1}', "GREEK SMALL LETTER ALPHA", "a"),
    ('\u{03bf}', "GREEK SMALL LETTER OMICRON", "o"),
    ('\u{03bd}', "GREEK SMALL LETTER NU", "v"),
    ('\u{0391}', "GREEK CAPITAL LETTER ALPHA", "A"),
    ('\u{0392}', "GREEK CAPITAL LETTER BETA", "B"),
    ('\u{0395}', "GREEK CAPITAL LETTER EPSILON", "E"),
    ('\u{0396}', "GREEK CAPITAL LETTER ZETA", "Z"),
    ('\u{0397}', "GREEK CAPITAL LETTER ETA", "H"),
    ('\u{0399}', "GREEK CAPITAL LETTER IOTA", "I"),
    ('\u{039a}', "GREEK CAPITAL LETTER KAPPA", "K"),
    ('\u{039c}', "GREEK CAPITAL LETTER MU", "M"),
    ('\u{039d}', "GREEK CAPITAL LETTER NU", "N"),
    ('\u{039f}', "GREEK CAPITAL LETTER OMICRON", "O"),
    ('\u{03a1}', "GREEK CAPITAL LETTER RHO", "P"),
    ('\u{03a4}', "GREEK CAPITAL LETTER TAU", "T"),
    ('\u{03a5}', "GREEK CAPITAL LETTER UPSILON", "Y"),
    ('\u{03a7}', "GREEK CAPITAL LETTER CHI", "X"),
];

/// What `c` is mistaken for, if it is in either table. Fullwidth forms (`Ａ`, `１`, `（`) map to their
/// ASCII counterparts by arithmetic.
pub fn lookalike(c: char) -> Option<Lookalike> {
    if let Some((_, name, ascii)) = INVISIBLE.iter().find(|(x, ..)| *x == c) {
        return Some(Lookalike {
            name,
            ascii,
            invisible: true,
        });
    }
    if let Some((_, name, ascii)) = CONFUSABLE.iter().find(|(x, ..)| *x == c) {
        return Some(Lookalike {
            name,
            ascii,
            invisible: false,
        });
    }
    let code = c as u32;
    if (0xff01..=0xff5e).contains(&code) {
        let i = (code - 0xff01) as usize;
        return Some(Lookalike {
            name: "FULLWIDTH FORM",
            ascii: &PRINTABLE_ASCII[i..i + 1],
            invisible: false,
        });
    }
    None
}

/// Printable ASCII from `!` to `~`, in order: the fullwidth forms U+FF01..U+FF5E map onto it.
const PRINTABLE_ASCII: &str = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// `U+00A0` for a code point.
pub fn code_point(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// How a character is shown in a message: itself when it can be seen, its escape when it cannot.
pub fn shown(c: char) -> String {
    match lookalike(c) {
        Some(l) if l.invisible => c.escape_unicode().to_string(),
        _ if c.is_control() => c.escape_unicode().to_string(),
        _ => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_no_ascii_and_no_repeats() {
        let all: Vec<char> = INVISIBLE
            .iter()
            .chain(CONFUSABLE)
            .map(|(c, ..)| *c)
            .collect();
        for (i, c) in all.iter().enumerate() {
            assert!(
                !c.is_ascii() || c.is_ascii_control(),
                "{} is plain ASCII",
                code_point(*c)
            );
            assert!(!all[..i].contains(c), "{} is listed twice", code_point(*c));
        }
    }

    #[test]
    fn fullwidth_forms_map_to_ascii() {
        assert_eq!(lookalike('（').map(|l| l.ascii), Some("("));
        assert_eq!(lookalike('Ａ').map(|l| l.ascii), Some("A"));
        assert_eq!(lookalike('～').map(|l| l.ascii), Some("~"));
        assert!(lookalike('中').is_none());
    }
}
