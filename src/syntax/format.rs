//! `study fmt`: the canonical layout of a study file. Idempotent, comment-preserving, and it changes no
//! meaning (numbers keep their written form), so the fingerprint of a formatted file is unchanged.

use super::ast::*;

const INDENT: &str = "  ";
const MAX_INLINE_WIDTH: usize = 100;

/// A comment found in the original text.
struct Comment {
    start: usize,
    text: String,
}

/// Formats one parsed file whose text is `text`.
pub fn format_file(file: &File, text: &str) -> String {
    let mut p = Printer {
        text,
        out: String::new(),
        indent: 0,
        comments: scan_comments(text),
        next: 0,
    };
    let mut previous_end: Option<usize> = None;
    for item in &file.items {
        let start = item.span().start;
        p.separate_items(previous_end, start);
        p.flush_comments_before(start);
        p.line_start();
        match item {
            Item::Header(h) => {
                p.out.push_str("study ");
                p.out.push_str(&quote(&h.name.value));
                if let Some(block) = &h.block {
                    p.out.push(' ');
                    p.block(block);
                }
            }
            Item::Include(i) => {
                p.out.push_str("include ");
                p.out.push_str(&quote(&i.path.value));
            }
            Item::Decl(d) => p.decl(d),
        }
        p.trailing_comment(item.span().end);
        p.out.push('\n');
        previous_end = Some(item.span().end);
    }
    if previous_end.is_some() && p.next < p.comments.len() {
        p.out.push('\n');
    }
    p.flush_comments_before(usize::MAX);
    p.out
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    indent: usize,
    comments: Vec<Comment>,
    next: usize,
}

impl Printer<'_> {
    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    /// Keeps one blank line where the author left one or more between two items.
    fn separate_items(&mut self, previous_end: Option<usize>, start: usize) {
        let Some(prev) = previous_end else { return };
        let first_comment = self
            .comments
            .get(self.next)
            .map(|c| c.start)
            .filter(|s| *s < start);
        let until = first_comment.unwrap_or(start);
        if has_blank_line(self.text.get(prev..until).unwrap_or("")) {
            self.out.push('\n');
        }
    }

    /// Writes every comment that starts before `pos` on its own line.
    fn flush_comments_before(&mut self, pos: usize) {
        let mut last_end: Option<usize> = None;
        while let Some(c) = self.comments.get(self.next).filter(|c| c.start < pos) {
            let (start, text) = (c.start, c.text.clone());
            if let Some(end) = last_end
                && has_blank_line(self.text.get(end..start).unwrap_or(""))
            {
                self.out.push('\n');
            }
            self.line_start();
            self.out.push_str(&text);
            self.out.push('\n');
            last_end = Some(start + text.len());
            self.next += 1;
        }
        if let Some(end) = last_end
            && has_blank_line(self.text.get(end..pos.min(self.text.len())).unwrap_or(""))
        {
            self.out.push('\n');
        }
    }

    /// Appends a comment that follows `end` on the same original line.
    fn trailing_comment(&mut self, end: usize) {
        while let Some(c) = self.comments.get(self.next) {
            let between = self.text.get(end..c.start).unwrap_or("\n");
            if c.start < end
                || between.contains('\n')
                || c.text.starts_with("/*") && c.text.contains('\n')
            {
                break;
            }
            self.out.push_str("  ");
            self.out.push_str(&c.text.clone());
            self.next += 1;
        }
    }

    fn has_comment_within(&self, start: usize, end: usize) -> bool {
        self.comments[self.next..]
            .iter()
            .any(|c| c.start >= start && c.start < end)
    }

    fn decl(&mut self, d: &Decl) {
        self.out.push_str(d.kind.keyword());
        if let Some(name) = &d.name {
            self.out.push(' ');
            self.out.push_str(&name.name);
        }
        if let Some(value) = &d.value {
            self.out.push_str(" = ");
            self.out.push_str(&value_text(value));
        }
        if let Some(doc) = &d.doc {
            self.out.push(' ');
            self.out.push_str(&quote(&doc.value));
        }
        if let Some(block) = &d.block {
            self.out.push(' ');
            self.block(block);
        }
    }

    fn block(&mut self, block: &Block) {
        if block.items.is_empty() && !self.has_comment_within(block.span.start, block.span.end) {
            self.out.push_str("{}");
            return;
        }
        if let Some(inline) = self.inline_block(block) {
            self.out.push_str(&inline);
            return;
        }
        self.out.push_str("{\n");
        self.indent += 1;
        let mut previous_end: Option<usize> = None;
        for item in &block.items {
            let start = item.span().start;
            self.separate_items(previous_end, start);
            self.flush_comments_before(start);
            self.line_start();
            self.block_item(item);
            self.trailing_comment(item.span().end);
            self.out.push('\n');
            previous_end = Some(item.span().end);
        }
        self.flush_comments_before(block.span.end);
        self.indent -= 1;
        self.line_start();
        self.out.push('}');
    }

    /// The one-line form `{ a 1, b 2 }`, used when the author wrote the block on one line, it holds no
    /// comment and it fits.
    fn inline_block(&self, block: &Block) -> Option<String> {
        let original = self.text.get(block.span.start..block.span.end)?;
        if original.contains('\n') || self.has_comment_within(block.span.start, block.span.end) {
            return None;
        }
        let mut inner = Vec::new();
        for item in &block.items {
            let mut nested = Printer {
                text: self.text,
                out: String::new(),
                indent: 0,
                comments: vec![],
                next: 0,
            };
            nested.block_item(item);
            if nested.out.contains('\n') {
                return None;
            }
            inner.push(nested.out);
        }
        let line = format!("{{ {} }}", inner.join(", "));
        let current_line = self.out.rsplit('\n').next().unwrap_or("").len();
        (current_line + line.len() <= MAX_INLINE_WIDTH).then_some(line)
    }

    fn block_item(&mut self, item: &BlockItem) {
        match item {
            BlockItem::Entry(e) => {
                self.out.push_str(&e.key.name);
                for v in &e.values {
                    self.out.push(' ');
                    self.value(v);
                }
                if let Some(block) = &e.block {
                    self.out.push(' ');
                    self.block(block);
                }
            }
            BlockItem::Mapping(m) => {
                match &m.from {
                    Some(s) => self.out.push_str(&quote(&s.value)),
                    None => self.out.push('*'),
                }
                self.out.push_str(" => ");
                self.out.push_str(&m.to.name);
            }
            BlockItem::Rule(r) => {
                self.out.push_str(match r.kind {
                    RuleKind::Confirmed => "confirmed when ",
                    RuleKind::Refuted => "refuted when ",
                });
                self.out.push_str(&expr_text(&r.expr));
            }
            BlockItem::Keep(k) => {
                self.out.push_str("keep ");
                self.out.push_str(&expr_text(&k.expr));
            }
        }
    }
}

impl Printer<'_> {
    /// A value in a block: a list stays on one line when it fits in `MAX_INLINE_WIDTH` and holds no
    /// comment; otherwise it is written one item per line, each with its comments.
    fn value(&mut self, v: &Value) {
        let Value::List(items, span) = v else {
            self.out.push_str(&value_text(v));
            return;
        };
        let inline = value_text(v);
        let current_line = self.out.rsplit('\n').next().unwrap_or("").len();
        let commented = self.has_comment_within(span.start, span.end);
        if !commented && current_line + inline.len() <= MAX_INLINE_WIDTH || items.is_empty() {
            self.out.push_str(&inline);
            return;
        }
        self.out.push_str("[\n");
        self.indent += 1;
        for item in items {
            self.flush_comments_before(item.span().start);
            self.line_start();
            self.value(item);
            self.out.push(',');
            self.trailing_comment(item.span().end);
            self.out.push('\n');
        }
        self.flush_comments_before(span.end);
        self.indent -= 1;
        self.line_start();
        self.out.push(']');
    }
}

/// True when `text` (the gap between two nodes) holds an empty line.
fn has_blank_line(text: &str) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    lines.len() >= 3
        && lines[1..lines.len() - 1]
            .iter()
            .any(|l| l.trim().is_empty())
}

/// Comments in source order, ignoring `//` inside strings.
fn scan_comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    super::lexical::walk(text, text.len(), |piece| {
        if let super::lexical::Piece::Comment { start, end, .. } = piece {
            out.push(Comment {
                start,
                text: text[start..end].trim_end().to_string(),
            });
        }
        true
    });
    out
}

/// A string literal with the escapes the grammar reads back.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn number_text(n: &Number) -> String {
    let unit = match n.unit {
        Unit::None => "",
        Unit::Percent => "%",
        Unit::Px => "px",
    };
    format!("{}{unit}", n.text)
}

pub fn value_text(v: &Value) -> String {
    match v {
        Value::Number(n) => number_text(n),
        Value::Str(s) => quote(&s.value),
        Value::Bool(b, _) => b.to_string(),
        Value::Range(a, b, _) => format!("{}..{}", number_text(a), number_text(b)),
        Value::List(items, _) => {
            format!(
                "[{}]",
                items.iter().map(value_text).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Call(c) => {
            let args: Vec<String> = c
                .args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}: {}", n.name, value_text(&a.value)),
                    None => value_text(&a.value),
                })
                .collect();
            format!("{}({})", c.name.name, args.join(", "))
        }
        Value::Path(parts, _) => parts
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
    }
}

/// Binding strength, loosest first; an operand binding looser than its context is parenthesised.
fn precedence(e: &Expr) -> u8 {
    match e {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        Expr::Not(..) => 3,
        Expr::Compare { .. } | Expr::In { .. } | Expr::Missing { .. } => 4,
        Expr::Arith { rest, .. } if rest.first().is_some_and(|(op, _)| op.is_additive()) => 5,
        Expr::Arith { .. } => 6,
        Expr::Neg(..) => 7,
        _ => 8,
    }
}

/// `e` printed as an operand that needs precedence above `min` (parenthesised when it binds looser).
fn operand(e: &Expr, min: u8) -> String {
    if precedence(e) <= min {
        format!("({})", expr_text(e))
    } else {
        expr_text(e)
    }
}

pub fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Or(parts, _) => parts
            .iter()
            .map(|p| operand(p, 1))
            .collect::<Vec<_>>()
            .join(" or "),
        Expr::And(parts, _) => parts
            .iter()
            .map(|p| operand(p, 2))
            .collect::<Vec<_>>()
            .join(" and "),
        Expr::Not(inner, _) => format!("not {}", operand(inner, 3)),
        Expr::Compare { lhs, op, rhs, .. } => {
            format!("{} {} {}", operand(lhs, 4), op.symbol(), operand(rhs, 4))
        }
        Expr::In {
            expr,
            list,
            negated,
            ..
        } => {
            let list: Vec<String> = list.iter().map(value_text).collect();
            let not = if *negated { "not " } else { "" };
            format!("{} {not}in [{}]", operand(expr, 4), list.join(", "))
        }
        Expr::Missing { expr, negated, .. } => {
            let not = if *negated { "not " } else { "" };
            format!("{} is {not}missing", operand(expr, 4))
        }
        Expr::Arith { first, rest, .. } => {
            let level = precedence(e);
            let mut out = operand(first, level);
            for (op, x) in rest {
                out.push_str(&format!(" {} {}", op.symbol(), operand(x, level)));
            }
            out
        }
        Expr::Neg(inner, _) => format!("-{}", operand(inner, 7)),
        Expr::Number(n) => number_text(n),
        Expr::Str(s) => quote(&s.value),
        Expr::Bool(b, _) => b.to_string(),
        Expr::List(items, _) => format!(
            "[{}]",
            items.iter().map(value_text).collect::<Vec<_>>().join(", ")
        ),
        Expr::Ref(r) => reference_text(r),
    }
}

pub fn reference_text(r: &Reference) -> String {
    let mut out = String::new();
    for (i, seg) in r.segments.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&seg.name.name);
        if let Some(args) = &seg.args {
            let args: Vec<String> = args
                .iter()
                .map(|a| match a {
                    SegmentArg::Number(n) => number_text(n),
                    SegmentArg::Str(s) => quote(&s.value),
                    SegmentArg::Ident(i) => i.name.clone(),
                })
                .collect();
            out.push_str(&format!("({})", args.join(", ")));
        }
        if i == 0 && !r.selector.is_empty() {
            let sel: Vec<String> = r
                .selector
                .iter()
                .map(|(a, v)| format!("{} = {}", a.name, v.name))
                .collect();
            out.push_str(&format!("[{}]", sel.join(", ")));
        }
    }
    out
}

/// Reads and formats one file (its includes are not followed). Returns the original and formatted text,
/// or the diagnostics that prevent formatting.
pub fn format_path(
    path: &std::path::Path,
) -> Result<(String, String), (crate::source::SourceMap, crate::diagnostics::Diagnostics)> {
    let mut sources = crate::source::SourceMap::new();
    let mut diags = crate::diagnostics::Diagnostics::default();
    let name = path.display().to_string();
    let text = match crate::files::read_regular(path, super::MAX_FILE_BYTES as u64) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let id = sources.add(
                    name,
                    Some(path.into()),
                    String::from_utf8_lossy(e.as_bytes()).into_owned(),
                );
                diags.push(
                    crate::diagnostics::Diagnostic::new(
                        crate::diagnostics::Code::NotUtf8,
                        "file is not valid UTF-8",
                    )
                    .at(
                        crate::source::Span::new(id, at, at + 3),
                        "this byte is not UTF-8",
                    )
                    .help("save the file as UTF-8 text"),
                );
                return Err((sources, diags));
            }
        },
        Err(e) => {
            let id = sources.add(name, Some(path.into()), String::new());
            diags.push(
                crate::diagnostics::Diagnostic::new(
                    crate::diagnostics::Code::Unreadable,
                    format!("cannot read `{}`: {e}", path.display()),
                )
                .at(crate::source::Span::new(id, 0, 0), ""),
            );
            return Err((sources, diags));
        }
    };
    let id = sources.add(name, Some(path.into()), text.clone());
    match format_text(id, &text) {
        Ok(formatted) => Ok((text, formatted)),
        Err(errors) => {
            errors.into_iter().for_each(|d| diags.push(d));
            Err((sources, diags))
        }
    }
}

/// Formats study text; syntax errors are returned as diagnostics (at their places in `text`). The file's
/// own line ending is kept: the first one in it (`\n`, `\r\n` or a lone `\r`) is used throughout.
pub fn format_text(
    file: crate::source::FileId,
    text: &str,
) -> Result<String, Vec<crate::diagnostics::Diagnostic>> {
    let parsed = super::parse_file(file, text)?;
    let ending = line_ending(text);
    if ending == "\n" {
        return Ok(format_file(&parsed, text));
    }
    // The layout is computed on `\n` text; a string never holds a raw line break, so only layout changes.
    let plain = text.replace("\r\n", "\n").replace('\r', "\n");
    let parsed = super::parse_file(file, &plain)?;
    Ok(format_file(&parsed, &plain).replace('\n', ending))
}

/// The first line ending in `text`; `\n` when it has none.
fn line_ending(text: &str) -> &'static str {
    match text.find(['\n', '\r']) {
        Some(i) if text[i..].starts_with("\r\n") => "\r\n",
        Some(i) if text[i..].starts_with('\r') => "\r",
        _ => "\n",
    }
}

/// What `format_in_place` did to a file.
#[derive(Debug, PartialEq)]
pub enum Formatted {
    Unchanged,
    /// Only checking, and the file is not in the canonical layout.
    WouldChange,
    Written,
}

/// Why a file could not be formatted.
#[derive(Debug)]
pub enum FormatError {
    /// The file cannot be read or parsed: the diagnostics, with the sources they point into.
    Study(crate::source::SourceMap, crate::diagnostics::Diagnostics),
    Write(std::io::Error),
}

/// `study fmt`: formats a file in place (or only checks it). The new text goes to a file beside it, then
/// is renamed over it, so a failure never leaves half a study behind; through a symbolic link, the file
/// it points to is formatted.
pub fn format_in_place(path: &std::path::Path, check_only: bool) -> Result<Formatted, FormatError> {
    let (original, formatted) =
        format_path(path).map_err(|(sources, diags)| FormatError::Study(sources, diags))?;
    if original == formatted {
        return Ok(Formatted::Unchanged);
    }
    if check_only {
        return Ok(Formatted::WouldChange);
    }
    // A study reached through a symbolic link is written where the link points; the link stays.
    let target = path.canonicalize().map_err(FormatError::Write)?;
    crate::files::replace(&target, formatted.as_bytes()).map_err(FormatError::Write)?;
    Ok(Formatted::Written)
}
