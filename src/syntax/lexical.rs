//! A light lexical pass, shared by the checks that run before or beside pest (nesting depth, comments
//! for the formatter, unclosed blocks): it tells code from strings and comments.

/// What the pass meets.
pub enum Piece {
    /// A byte of code at this offset (outside strings and comments).
    Code(usize, u8),
    /// A comment spanning these bytes.
    Comment(usize, usize),
}

/// Walks `text[..end]`, handing every code byte and every comment to `visit`; stops when it returns false.
pub fn walk(text: &str, end: usize, mut visit: impl FnMut(Piece) -> bool) {
    let bytes = text.as_bytes();
    let end = end.min(bytes.len());
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < end && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let start = i;
                while i < end && bytes[i] != b'\n' {
                    i += 1;
                }
                if !visit(Piece::Comment(start, i)) {
                    return;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start = i;
                i += 2;
                while i + 1 < end && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i = (i + 2).min(end);
                if !visit(Piece::Comment(start, i)) {
                    return;
                }
                continue;
            }
            b => {
                if !visit(Piece::Code(i, b)) {
                    return;
                }
            }
        }
        i += 1;
    }
}
