//! The lexical pass, before pest: it tells code from strings and comments, and finds the mistakes that
//! would otherwise surface as confusing syntax errors far from their cause: unterminated strings and
//! comments (reported at their start), brackets that do not pair (at the opener), nesting too deep, and
//! characters that look like ASCII or cannot be seen (named, with the ASCII that was meant).

use crate::diagnostics::unicode::{code_point, lookalike, shown};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span, clip};

/// The deepest bracket nesting accepted; deeper input is rejected before pest sees it, so that the
/// recursive parts of the parser stay shallow.
pub const MAX_DEPTH: usize = 64;

/// What the pass meets.
pub enum Piece {
    /// A byte of code at this offset (outside strings and comments).
    Code(usize, u8),
    /// A comment spanning these bytes; `closed` is false for a block comment the file never ends.
    Comment {
        start: usize,
        end: usize,
        closed: bool,
    },
    /// A string spanning these bytes, quotes included; `closed` is false when a line or the file ends first.
    Str {
        start: usize,
        end: usize,
        closed: bool,
    },
}

fn is_line_end(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Walks `text[..end]`, handing every code byte, string and comment to `visit`; stops when it returns false.
/// Line comments and strings end at any line ending (`\n`, `\r\n` or a lone `\r`), as in the grammar.
pub fn walk(text: &str, end: usize, mut visit: impl FnMut(Piece) -> bool) {
    let bytes = text.as_bytes();
    let end = end.min(bytes.len());
    let mut i = 0;
    while i < end {
        let start = i;
        let piece = match bytes[i] {
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && !is_line_end(bytes[i]) {
                    i += if bytes[i] == b'\\' && i + 1 < end && !is_line_end(bytes[i + 1]) {
                        2
                    } else {
                        1
                    };
                }
                let closed = i < end && bytes[i] == b'"';
                i = (i + usize::from(closed)).min(end);
                Piece::Str {
                    start,
                    end: i,
                    closed,
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < end && !is_line_end(bytes[i]) {
                    i += 1;
                }
                Piece::Comment {
                    start,
                    end: i,
                    closed: true,
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < end && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                let closed = i + 1 < end;
                i = if closed { i + 2 } else { end };
                Piece::Comment {
                    start,
                    end: i,
                    closed,
                }
            }
            b => {
                i += 1;
                Piece::Code(start, b)
            }
        };
        if !visit(piece) {
            return;
        }
    }
}

/// The comments of a lexically sound file, `(start, end)` in order; the parser uses them to find where a
/// construct's text ends before the comments and spaces after it.
pub type Comments = Vec<(usize, usize)>;

/// The comments of a file, or its lexical problems in the order they should be read: unterminated strings
/// and comments and unexpected characters first (each is the cause of whatever follows it), and only when
/// there are none, the first bracket that does not pair or nests too deep.
pub fn lex(file: FileId, text: &str) -> Result<Comments, Vec<Diagnostic>> {
    let mut found = Vec::new();
    let mut comments = Vec::new();
    let mut brackets = Brackets::default();
    let mut strange: Vec<(usize, char)> = Vec::new();
    walk(text, text.len(), |piece| {
        match piece {
            Piece::Str {
                start,
                end,
                closed: false,
            } => found.push(unterminated_string(file, text, start, end)),
            Piece::Comment {
                start,
                closed: false,
                ..
            } => found.push(
                Diagnostic::new(Code::Unterminated, "unterminated block comment")
                    .at(
                        Span::new(file, start, start + 2),
                        "this comment is never closed",
                    )
                    .help("close the comment with `*/`"),
            ),
            Piece::Code(i, b)
                if b >= 0x80 || (b.is_ascii_control() && !b" \t\n\r".contains(&b)) =>
            {
                // Only the first byte of a character starts it; the others are its continuation.
                if let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) {
                    let is_byte_order_mark = i == 0 && c == '\u{feff}';
                    if !is_byte_order_mark {
                        strange.push((i, c));
                    }
                }
            }
            Piece::Code(i, b) => brackets.visit(i, b),
            Piece::Comment { start, end, .. } => comments.push((start, end)),
            Piece::Str { .. } => {}
        }
        true
    });
    found.extend(strange_diagnostics(file, text, &strange));
    found.sort_by_key(|d| d.primary_span().map(|s| s.start));
    if found.is_empty() {
        found.extend(brackets.finish(file, text));
    }
    if found.is_empty() {
        Ok(comments)
    } else {
        Err(found)
    }
}

fn unterminated_string(file: FileId, text: &str, start: usize, end: usize) -> Diagnostic {
    let message = "unterminated string";
    let quote = Span::new(file, start, start + 1);
    // A curly quote earlier on the line may have been meant to end the string before this one, or one
    // inside this string to end it.
    let line_start = text[..start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let curly = text[line_start..end]
        .char_indices()
        .find(|(_, c)| lookalike(*c).is_some_and(|l| l.ascii == "\""));
    let Some((at, c)) = curly else {
        return Diagnostic::new(Code::Unterminated, message)
            .at(quote, "this string is never closed")
            .help("close the string with `\"` on the same line; a string cannot span lines (write `\\n` for a line break)");
    };
    let at = line_start + at;
    let name = lookalike(c).map_or("", |l| l.name);
    Diagnostic::new(Code::Unterminated, message)
        .at(
            Span::new(file, at, at + c.len_utf8()),
            format!("`{c}` ({} {name}) does not end a string", code_point(c)),
        )
        .also(quote, "so this string is never closed")
        .help("end strings with a straight double quote `\"`")
}

/// Groups unexpected characters that touch each other into runs: a word written in another script is one
/// problem, not one per letter.
fn strange_runs(strange: &[(usize, char)]) -> impl Iterator<Item = &[(usize, char)]> {
    strange.chunk_by(|(a, c), (b, _)| a + c.len_utf8() == *b)
}

/// One diagnostic per run of unexpected characters; a pair of curly quotes around text on one line is one
/// diagnostic that shows the string as it should be written.
fn strange_diagnostics(file: FileId, text: &str, strange: &[(usize, char)]) -> Vec<Diagnostic> {
    let is_quote = |run: &[(usize, char)]| {
        run.len() == 1 && lookalike(run[0].1).is_some_and(|l| l.ascii == "\"")
    };
    let runs: Vec<&[(usize, char)]> = strange_runs(strange).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let (open, close) = (runs[i], runs.get(i + 1));
        if let Some(close) = close.filter(|c| is_quote(open) && is_quote(c)) {
            let (start, c) = open[0];
            let (end_at, d) = close[0];
            let inner = &text[start + c.len_utf8()..end_at];
            if !inner.contains(['\n', '\r', '"']) {
                let name = |c: char| lookalike(c).map_or("", |l| l.name);
                out.push(
                    Diagnostic::new(
                        Code::BadCharacter,
                        format!(
                            "`{c}` ({} {}) and `{d}` ({} {}) look like `\"`, but they are not",
                            code_point(c),
                            name(c),
                            code_point(d),
                            name(d)
                        ),
                    )
                    .at(Span::new(file, start, start + c.len_utf8()), "not `\"`")
                    .also(Span::new(file, end_at, end_at + d.len_utf8()), "not `\"`")
                    .help(format!("write \"{}\"", clip(inner, 60))),
                );
                i += 2;
                continue;
            }
        }
        out.push(strange_text(file, text, open));
        i += 1;
    }
    out
}

/// One diagnostic for a run of unexpected characters: what they are, and what was probably meant.
fn strange_text(file: FileId, text: &str, run: &[(usize, char)]) -> Diagnostic {
    let (start, first) = run[0];
    let end = run.last().map_or(start, |(i, c)| i + c.len_utf8());
    let span = Span::new(file, start, end);
    let same = run.iter().all(|(_, c)| *c == first);
    let times = if run.len() > 1 && same {
        format!(" ({} in a row)", run.len())
    } else {
        String::new()
    };
    let every_one_has_ascii = run.iter().all(|(_, c)| lookalike(*c).is_some());
    let Some(look) = lookalike(first).filter(|_| same || every_one_has_ascii) else {
        let written = clip(&text[start..end], 40);
        let message = if first.is_control() {
            format!(
                "control character `{}` ({}){times}",
                shown(first),
                code_point(first)
            )
        } else {
            format!(
                "`{written}` ({}...) cannot appear outside a string",
                code_point(first)
            )
        };
        return Diagnostic::new(Code::BadCharacter, message)
            .at(span, "not allowed here")
            .help("names and keywords use ASCII letters, digits and `_`; other text belongs in a string (\"...\") or a comment");
    };
    let replacement = if look
        .ascii
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        ascii_word(text, start, end)
    } else {
        look.ascii.to_string()
    };
    let message = if look.invisible {
        format!(
            "invisible character `{}` ({} {}){times}",
            shown(first),
            code_point(first),
            look.name
        )
    } else {
        format!(
            "`{first}` ({} {}) looks like `{}`, but it is not{times}",
            code_point(first),
            look.name,
            look.ascii
        )
    };
    let label = if look.invisible {
        "an invisible character is here".to_string()
    } else {
        format!("not `{}`", look.ascii)
    };
    let help = match (look.invisible, look.ascii) {
        (true, "") => "delete it: most editors do not show it".to_string(),
        (true, " ") => "replace it with a plain space".to_string(),
        (true, _) => "replace it with a plain line break".to_string(),
        _ if replacement != look.ascii => format!("write `{replacement}`"),
        _ => format!("replace it with `{}`", look.ascii),
    };
    Diagnostic::new(Code::BadCharacter, message)
        .at(span, label)
        .help(help)
}

/// The word around `text[start..end]` with every look-alike character replaced by its ASCII (for
/// "write `1e-4`" or "write `hosp_a`").
fn ascii_word(text: &str, start: usize, end: usize) -> String {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let before: String = text[..start]
        .chars()
        .rev()
        .take_while(|c| part(*c))
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = text[end..]
        .chars()
        .take_while(|c| part(*c))
        .take(40)
        .collect();
    let middle: String = text[start..end]
        .chars()
        .map(|c| lookalike(c).map_or(c.to_string(), |l| l.ascii.to_string()))
        .collect();
    format!("{before}{middle}{after}")
}

/// Pairs brackets as the walk meets them; the first one that does not pair is the problem.
#[derive(Default)]
struct Brackets {
    open: Vec<(usize, u8)>,
    problem: Option<BracketProblem>,
    /// Lines that start a declaration at column 0 while a bracket is open: where a block was left open.
    first_item_inside: Option<usize>,
    at_line_start: Option<usize>,
}

enum BracketProblem {
    TooDeep(usize),
    Unexpected(usize, u8),
    Mismatched {
        open: (usize, u8),
        close: (usize, u8),
    },
}

fn closer(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

impl Brackets {
    fn visit(&mut self, i: usize, b: u8) {
        if self.problem.is_some() {
            return;
        }
        if b == b'\n' || b == b'\r' {
            self.at_line_start = Some(i + 1);
            return;
        }
        if let Some(line) = self.at_line_start.take()
            && line == i
            && !self.open.is_empty()
            && self.first_item_inside.is_none()
            && b.is_ascii_alphabetic()
        {
            self.first_item_inside = Some(i);
        }
        match b {
            b'(' | b'[' | b'{' => {
                self.open.push((i, b));
                if self.open.len() > MAX_DEPTH {
                    self.problem = Some(BracketProblem::TooDeep(i));
                }
            }
            b')' | b']' | b'}' => match self.open.pop() {
                None => self.problem = Some(BracketProblem::Unexpected(i, b)),
                Some(open) if closer(open.1) != b => {
                    self.problem = Some(BracketProblem::Mismatched {
                        open,
                        close: (i, b),
                    })
                }
                Some(_) => {
                    if self.open.is_empty() {
                        self.first_item_inside = None;
                    }
                }
            },
            _ => {}
        }
    }

    fn finish(self, file: FileId, text: &str) -> Option<Diagnostic> {
        let one = |i: usize| Span::new(file, i, i + 1);
        let ch = |b: u8| b as char;
        match self.problem {
            Some(BracketProblem::TooDeep(i)) => Some(
                Diagnostic::new(
                    Code::TooDeep,
                    format!("brackets nested deeper than {MAX_DEPTH} levels"),
                )
                .at(one(i), "this bracket is too deep")
                .help("close the brackets above, or flatten the structure"),
            ),
            Some(BracketProblem::Unexpected(i, b)) => Some(
                Diagnostic::new(
                    Code::Unclosed,
                    format!("unexpected closing delimiter: `{}`", ch(b)),
                )
                .at(one(i), "nothing open here to close")
                .help("remove it, or add the opening bracket it was meant to close"),
            ),
            Some(BracketProblem::Mismatched { open, close }) => Some(
                Diagnostic::new(
                    Code::Unclosed,
                    format!("mismatched closing delimiter: `{}`", ch(close.1)),
                )
                .at(
                    one(close.0),
                    format!("this does not close the `{}`", ch(open.1)),
                )
                .also(one(open.0), "unclosed delimiter")
                .help(format!(
                    "close the `{}` with `{}` first",
                    ch(open.1),
                    ch(closer(open.1))
                )),
            ),
            None => {
                let (at, b) = *self.open.first()?;
                let (innermost, _) = *self.open.last()?;
                let mut d = Diagnostic::new(
                    Code::Unclosed,
                    format!("this file contains an unclosed delimiter `{}`", ch(b)),
                )
                .at(one(at), "unclosed delimiter");
                if innermost != at {
                    d = d.also(one(innermost), "and this one inside it");
                }
                if let Some(line) = self.first_item_inside {
                    let word_end = text[line..]
                        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .map_or(text.len(), |n| line + n);
                    d = d.also(
                        Span::new(file, line, word_end),
                        "a line starting at the left margin, still inside it",
                    );
                }
                Some(d.help(format!("close it with `{}`", ch(closer(b)))))
            }
        }
    }
}
