//! pest pairs → typed AST, and pest errors → our own diagnostics.

use super::ast::*;
use super::lexical::{Piece, walk};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::Parser;
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/study.pest"]
struct StudyParser;

/// The deepest bracket nesting accepted; deeper input is rejected before pest sees it.
pub const MAX_DEPTH: usize = 64;

/// Parses one file's text. All syntax problems end as diagnostics; nothing here panics on any input.
pub fn parse_file(file: FileId, text: &str) -> Result<File, Vec<Diagnostic>> {
    if let Some(d) = check_depth(file, text) {
        return Err(vec![d]);
    }
    let pairs = match StudyParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(_) => return Err(vec![syntax_error(file, text)]),
    };
    let mut builder = Builder {
        file,
        errors: Vec::new(),
    };
    let items = pairs
        .into_iter()
        .next()
        .map(|f| {
            f.into_inner()
                .filter(|p| p.as_rule() != Rule::EOI)
                .map(|p| builder.item(p))
                .collect()
        })
        .unwrap_or_default();
    if builder.errors.is_empty() {
        Ok(File { id: file, items })
    } else {
        Err(builder.errors)
    }
}

/// Rejects nesting deeper than `MAX_DEPTH` so that the recursive parts of the parser stay shallow.
fn check_depth(file: FileId, text: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut too_deep = None;
    walk(text, text.len(), |piece| {
        match piece {
            Piece::Code(i, b'(' | b'[' | b'{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    too_deep = Some(i);
                    return false;
                }
            }
            Piece::Code(_, b')' | b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
        true
    });
    too_deep.map(|i| {
        Diagnostic::new(
            Code::TooDeep,
            format!("brackets nested deeper than {MAX_DEPTH} levels"),
        )
        .at(Span::new(file, i, i + 1), "this bracket is too deep")
        .help("close the brackets above, or flatten the structure")
    })
}

/// Builds the diagnostic for text pest rejected, with readable names of what was expected.
fn syntax_error(file: FileId, text: &str) -> Diagnostic {
    // Detailed attempts are costly, so they are only collected once a parse has failed.
    pest::set_error_detail(true);
    let err = StudyParser::parse(Rule::file, text).err();
    pest::set_error_detail(false);
    let Some(err) = err else {
        return Diagnostic::new(Code::Syntax, "the file could not be parsed")
            .at(Span::new(file, 0, 0), "here");
    };
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        expected.extend(
            positives
                .iter()
                .filter_map(|r| rule_name(*r))
                .map(str::to_string),
        );
    }
    if let Some(attempts) = err.parse_attempts() {
        for token in attempts.expected_tokens() {
            if let Some(name) = literal_name(&token.to_string()) {
                expected.push(name);
            }
        }
    }
    expected.sort();
    expected.dedup();
    // Structural tokens first, then descriptions; a long list is cut, it would hide the point.
    expected.sort_by_key(|e| !e.starts_with('`'));
    if expected.len() > 8 {
        expected.truncate(8);
        expected.push("...".into());
    }
    let found = found_token(text, pos);
    let found_text = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let span = Span::new(file, pos, pos + found.len());
    let mut d = Diagnostic::new(Code::Syntax, message).at(span, "not expected here");
    if let Some(open) = unclosed_block_before_declaration(text, pos) {
        return d
            .also(Span::new(file, open, open + 1), "this `{` is never closed")
            .help("close the block with `}` before the next declaration");
    }
    if let Some(help) = syntax_help(text, pos, found) {
        d = d.help(help);
    }
    d
}

/// When the error is on a line that starts a declaration while an earlier line's `{` is still open, the
/// real mistake is the missing `}`: returns that brace's offset.
fn unclosed_block_before_declaration(text: &str, pos: usize) -> Option<usize> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let first_word: String = text[line_start..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let starts_item = crate::syntax::ast::DeclKind::from_keyword(&first_word).is_some()
        || first_word == "include"
        || first_word == "study";
    if !starts_item {
        return None;
    }
    let mut open: Vec<usize> = Vec::new();
    walk(text, line_start, |piece| {
        match piece {
            Piece::Code(i, b'{') => open.push(i),
            Piece::Code(_, b'}') => {
                open.pop();
            }
            _ => {}
        }
        true
    });
    open.last().copied()
}

/// Hints for the mistakes people make most.
fn syntax_help(text: &str, pos: usize, found: &str) -> Option<String> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..pos].trim_end();
    let in_condition = [" when ", "keep "].iter().any(|k| before.contains(k));
    if found == "=" && in_condition {
        return Some("comparison is `==`, a single `=` only names a declaration's variant".into());
    }
    if [
        "and", "or", "not", "in", "is", "missing", "when", "true", "false",
    ]
    .contains(&found)
    {
        return Some(format!(
            "`{found}` is a reserved word and cannot be used as a name"
        ));
    }
    if found.starts_with('\'') {
        return Some("strings use double quotes: \"text\"".into());
    }
    if found.is_empty() {
        return Some("the file ends early: check for an unclosed `{`, `[` or `(`".into());
    }
    None
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// The token at `pos`, for "found ..." (a word, a number, or one character).
fn found_token(text: &str, pos: usize) -> &str {
    let rest = text.get(pos..).unwrap_or("");
    let word_len: usize = rest
        .char_indices()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
        .map(|(_, c)| c.len_utf8())
        .sum();
    if word_len > 0 {
        return &rest[..word_len.min(40)];
    }
    match rest.chars().next() {
        Some('\n') | Some('\r') => "\\n",
        Some(c) => &rest[..c.len_utf8()],
        None => "",
    }
}

/// Literal tokens worth naming in "expected ..."; the rest (letters of numbers, quotes, keywords that a
/// rule already names) would only add noise.
fn literal_name(token: &str) -> Option<String> {
    match token {
        "\n" | "\r\n" | "\r" => Some("a new line".into()),
        "}" | "]" | ")" | "{" | "(" | "," | "=" | "=>" | ":" | "when" => Some(format!("`{token}`")),
        _ => None,
    }
}

fn rule_name(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of file",
        Rule::header | Rule::kw_study => "`study`",
        Rule::include | Rule::kw_include => "`include`",
        Rule::declaration | Rule::decl_kind => "a declaration (dataset, model, crop, ...)",
        Rule::block => "a block `{ ... }`",
        Rule::mapping | Rule::pattern => "a mapping `\"raw\" => class`",
        Rule::rule | Rule::rule_kind => "a rule (`confirmed when` / `refuted when`)",
        Rule::kw_when => "`when`",
        Rule::keep | Rule::kw_keep => "`keep`",
        Rule::entry => "an entry",
        Rule::range => "a range `a..b`",
        Rule::number | Rule::numeral => "a number",
        Rule::unit => "a unit (`%` or `px`)",
        Rule::boolean => "`true` or `false`",
        Rule::string | Rule::string_body => "a string",
        Rule::list => "a list `[...]`",
        Rule::call => "a call `name(...)`",
        Rule::argument => "an argument",
        Rule::path | Rule::ident => "a name",
        Rule::expr | Rule::or_expr | Rule::and_expr | Rule::not_expr | Rule::comparison => {
            "an expression"
        }
        Rule::compare_op => "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
        Rule::membership | Rule::kw_in => "`in`",
        Rule::missing_test | Rule::kw_is => "`is missing`",
        Rule::sum | Rule::product | Rule::unary => "a value",
        Rule::add_op | Rule::mul_op | Rule::negate => "an operator",
        Rule::reference | Rule::segment => "a result reference",
        Rule::selector | Rule::selection => "a selection `[axis = value]`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_not => "`not`",
        Rule::kw_missing => "`missing`",
        Rule::wildcard => "`*`",
        _ => return None,
    })
}

struct Builder {
    file: FileId,
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        Span::new(self.file, pair.as_span().start(), trimmed_end(pair))
    }

    fn item(&mut self, pair: Pair<Rule>) -> Item {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::header => {
                let mut inner = pair.into_inner().skip(1);
                let name = self.string(inner.next().expect("header has a name"));
                let block = inner.next().map(|b| self.block(b));
                Item::Header(Header { name, block, span })
            }
            Rule::include => {
                let path = self.string(pair.into_inner().nth(1).expect("include has a path"));
                Item::Include(Include {
                    path,
                    span,
                    target: None,
                })
            }
            _ => Item::Decl(self.declaration(pair)),
        }
    }

    fn declaration(&mut self, pair: Pair<Rule>) -> Decl {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let kind_pair = inner.next().expect("declaration starts with its kind");
        let kind_span = self.span(&kind_pair);
        let kind = DeclKind::from_keyword(kind_pair.as_str()).expect("grammar lists every kind");
        let mut decl = Decl {
            kind,
            kind_span,
            name: None,
            value: None,
            doc: None,
            block: None,
            span,
        };
        for part in inner {
            match part.as_rule() {
                Rule::ident => decl.name = Some(self.ident(part)),
                Rule::block => decl.block = Some(self.block(part)),
                // A string straight after `=` is the value; any other string is the doc string.
                Rule::string if decl.value.is_some() || !self.follows_equals(&decl, &part) => {
                    decl.doc = Some(self.string(part));
                }
                _ => decl.value = Some(self.value(part)),
            }
        }
        decl
    }

    /// True when the string pair directly follows `=` (so it is the declaration's value).
    fn follows_equals(&self, decl: &Decl, part: &Pair<Rule>) -> bool {
        let after_name = decl
            .name
            .as_ref()
            .map_or(decl.kind_span.end, |n| n.span.end);
        let start = part.as_span().start();
        let between = part.get_input().get(after_name..start).unwrap_or("");
        between.contains('=')
    }

    fn block(&mut self, pair: Pair<Rule>) -> Block {
        let span = self.span(&pair);
        let items = pair
            .into_inner()
            .map(|p| {
                let span = self.span(&p);
                match p.as_rule() {
                    Rule::mapping => {
                        let mut inner = p.into_inner();
                        let pattern = inner.next().expect("mapping has a pattern");
                        let from_pair = pattern.into_inner().next().expect("pattern has content");
                        let from =
                            (from_pair.as_rule() == Rule::string).then(|| self.string(from_pair));
                        let to = self.ident(inner.next().expect("mapping has a target"));
                        BlockItem::Mapping(Mapping { from, to, span })
                    }
                    Rule::rule => {
                        let mut inner = p.into_inner();
                        let kind = match inner.next().map(|k| k.as_str()) {
                            Some("confirmed") => RuleKind::Confirmed,
                            _ => RuleKind::Refuted,
                        };
                        let expr = self.expr(inner.nth(1).expect("rule has an expression"));
                        BlockItem::Rule(Rule_ { kind, expr, span })
                    }
                    Rule::keep => {
                        let expr =
                            self.expr(p.into_inner().nth(1).expect("keep has an expression"));
                        BlockItem::Keep(Keep { expr, span })
                    }
                    _ => BlockItem::Entry(self.entry(p)),
                }
            })
            .collect();
        Block { items, span }
    }

    fn entry(&mut self, pair: Pair<Rule>) -> Entry {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let key = self.ident(inner.next().expect("entry has a key"));
        let mut values = Vec::new();
        let mut block = None;
        for p in inner {
            if p.as_rule() == Rule::block {
                block = Some(self.block(p));
            } else {
                values.push(self.value(p));
            }
        }
        Entry {
            key,
            values,
            block,
            span,
        }
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn string(&mut self, pair: Pair<Rule>) -> Str {
        let span = self.span(&pair);
        let body = pair.into_inner().next().map_or("", |b| b.as_str());
        let value = match unescape(body) {
            Ok(v) => v,
            Err(offset) => {
                let at = span.start + 1 + offset;
                self.errors.push(
                    Diagnostic::new(Code::BadEscape, "invalid escape sequence in string")
                        .at(
                            Span::new(self.file, at, (at + 2).min(span.end)),
                            "unknown escape",
                        )
                        .help(
                            "known escapes: \\\" \\\\ \\n \\t \\r \\u{HEX}; write paths with `/`",
                        ),
                );
                body.to_string()
            }
        };
        Str { value, span }
    }

    fn number(&mut self, pair: Pair<Rule>) -> Number {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let text = inner.next().map_or("0", |n| n.as_str()).to_string();
        let unit = match inner.next().map(|u| u.as_str()) {
            Some("%") => Unit::Percent,
            Some("px") => Unit::Px,
            _ => Unit::None,
        };
        let value = text.parse::<f64>().unwrap_or(f64::NAN);
        if !value.is_finite() {
            self.errors.push(
                Diagnostic::new(Code::BadNumber, format!("`{text}` is not a finite number"))
                    .at(span, "too large to represent")
                    .help("use a number between -1.7e308 and 1.7e308"),
            );
        }
        Number {
            value,
            unit,
            text,
            span,
        }
    }

    fn value(&mut self, pair: Pair<Rule>) -> Value {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::number => Value::Number(self.number(pair)),
            Rule::string => Value::Str(self.string(pair)),
            Rule::boolean => Value::Bool(pair.as_str() == "true", span),
            Rule::range => {
                let mut inner = pair.into_inner();
                let lo = self.number(inner.next().expect("range start"));
                let hi = self.number(inner.next().expect("range end"));
                Value::Range(lo, hi, span)
            }
            Rule::list => Value::List(pair.into_inner().map(|p| self.value(p)).collect(), span),
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = self.ident(inner.next().expect("call has a name"));
                let args = inner
                    .map(|arg| {
                        let span = self.span(&arg);
                        let mut parts: Vec<_> = arg.into_inner().collect();
                        let value_pair = parts.pop().expect("argument has a value");
                        let name = parts.pop().map(|n| self.ident(n));
                        Argument {
                            name,
                            value: self.value(value_pair),
                            span,
                        }
                    })
                    .collect();
                Value::Call(Call { name, args, span })
            }
            _ => Value::Path(pair.into_inner().map(|p| self.ident(p)).collect(), span),
        }
    }

    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr => self.expr(pair.into_inner().next().expect("expr has content")),
            Rule::or_expr | Rule::and_expr => {
                let is_or = pair.as_rule() == Rule::or_expr;
                let parts: Vec<Expr> = pair
                    .into_inner()
                    .filter(|p| !matches!(p.as_rule(), Rule::kw_or | Rule::kw_and))
                    .map(|p| self.expr(p))
                    .collect();
                match (parts.len(), is_or) {
                    (1, _) => parts.into_iter().next().expect("one part"),
                    (_, true) => Expr::Or(parts, span),
                    (_, false) => Expr::And(parts, span),
                }
            }
            Rule::not_expr => {
                let mut nots = 0;
                let mut inner = None;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::kw_not {
                        nots += 1;
                    } else {
                        inner = Some(self.expr(p));
                    }
                }
                let inner = inner.expect("not_expr has an operand");
                // `not not x` is `x`: keep the parity only, so depth never grows with repetition.
                if nots % 2 == 1 {
                    Expr::Not(Box::new(inner), span)
                } else {
                    inner
                }
            }
            Rule::comparison => {
                let mut inner = pair.into_inner();
                let lhs = self.expr(inner.next().expect("comparison has a left side"));
                let Some(op) = inner.next() else { return lhs };
                match op.as_rule() {
                    Rule::compare_op => {
                        let op = match op.as_str() {
                            "==" => CompareOp::Eq,
                            "!=" => CompareOp::Ne,
                            "<=" => CompareOp::Le,
                            ">=" => CompareOp::Ge,
                            "<" => CompareOp::Lt,
                            _ => CompareOp::Gt,
                        };
                        let rhs = self.expr(inner.next().expect("comparison has a right side"));
                        Expr::Compare {
                            lhs: Box::new(lhs),
                            op,
                            rhs: Box::new(rhs),
                            span,
                        }
                    }
                    Rule::membership => {
                        let mut negated = false;
                        let mut list = Vec::new();
                        for p in op.into_inner() {
                            match p.as_rule() {
                                Rule::kw_not => negated = true,
                                Rule::list => {
                                    list = p.into_inner().map(|v| self.value(v)).collect();
                                }
                                _ => {}
                            }
                        }
                        Expr::In {
                            expr: Box::new(lhs),
                            list,
                            negated,
                            span,
                        }
                    }
                    _ => {
                        let negated = op.into_inner().any(|p| p.as_rule() == Rule::kw_not);
                        Expr::Missing {
                            expr: Box::new(lhs),
                            negated,
                            span,
                        }
                    }
                }
            }
            Rule::sum | Rule::product => {
                let mut inner = pair.into_inner();
                let first = self.expr(inner.next().expect("chain has a first operand"));
                let mut rest = Vec::new();
                while let (Some(op), Some(operand)) = (inner.next(), inner.next()) {
                    let op = match op.as_str() {
                        "+" => ArithOp::Add,
                        "-" => ArithOp::Sub,
                        "*" => ArithOp::Mul,
                        _ => ArithOp::Div,
                    };
                    rest.push((op, self.expr(operand)));
                }
                if rest.is_empty() {
                    first
                } else {
                    Expr::Arith {
                        first: Box::new(first),
                        rest,
                        span,
                    }
                }
            }
            Rule::unary => {
                let mut negations = 0;
                let mut operand = None;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::negate {
                        negations += 1;
                    } else {
                        operand = Some(self.expr(p));
                    }
                }
                let operand = operand.expect("unary has an operand");
                if negations % 2 == 1 {
                    Expr::Neg(Box::new(operand), span)
                } else {
                    operand
                }
            }
            Rule::number => Expr::Number(self.number(pair)),
            Rule::string => Expr::Str(self.string(pair)),
            Rule::boolean => Expr::Bool(pair.as_str() == "true", span),
            Rule::list => Expr::List(pair.into_inner().map(|v| self.value(v)).collect(), span),
            _ => Expr::Ref(self.reference(pair)),
        }
    }

    fn reference(&mut self, pair: Pair<Rule>) -> Reference {
        let span = self.span(&pair);
        let mut segments = Vec::new();
        let mut selector = Vec::new();
        let mut selector_span = None;
        for p in pair.into_inner() {
            if p.as_rule() == Rule::selector {
                selector_span = Some(self.span(&p));
                for sel in p.into_inner() {
                    let mut parts = sel.into_inner();
                    let axis = self.ident(parts.next().expect("selection has an axis"));
                    let value = self.ident(parts.next().expect("selection has a value"));
                    selector.push((axis, value));
                }
                continue;
            }
            let seg_span = self.span(&p);
            let text = p.as_str();
            let mut inner = p.into_inner();
            let name = self.ident(inner.next().expect("segment has a name"));
            let args: Vec<SegmentArg> = inner
                .map(|a| match a.as_rule() {
                    Rule::number => SegmentArg::Number(self.number(a)),
                    Rule::string => SegmentArg::Str(self.string(a)),
                    _ => SegmentArg::Ident(self.ident(a)),
                })
                .collect();
            let has_parens = text.trim_end().ends_with(')');
            segments.push(Segment {
                name,
                args: has_parens.then_some(args),
                span: seg_span,
            });
        }
        Reference {
            segments,
            selector,
            selector_span,
            span,
        }
    }
}

/// The end of a pair without the whitespace and comments pest's implicit skipping may leave at its end
/// (a rule ending in an optional part swallows the skip before it).
fn trimmed_end(pair: &Pair<Rule>) -> usize {
    let end = pair.as_span().end();
    let Some(last) = pair.clone().into_inner().last() else {
        return end;
    };
    let inner_end = trimmed_end(&last);
    let tail = pair.get_input().get(inner_end..end).unwrap_or("");
    if only_trivia(tail) { inner_end } else { end }
}

/// True when `text` holds nothing but spaces, tabs and comments (not newlines: those separate entries).
fn only_trivia(mut text: &str) -> bool {
    loop {
        text = text.trim_start_matches([' ', '\t', '\u{FEFF}']);
        if text.is_empty() {
            return true;
        }
        if let Some(rest) = text.strip_prefix("//") {
            text = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if let Some(rest) = text.strip_prefix("/*") {
            match rest.find("*/") {
                Some(i) => text = &rest[i + 2..],
                None => return false,
            }
        } else {
            return false;
        }
    }
}

// The AST type is named `Rule` too; the pest enum keeps the name, the AST's is reached through this alias.
use super::ast::Rule as Rule_;

/// Decodes escapes; on failure returns the byte offset of the bad escape within `body`.
fn unescape(body: &str) -> Result<String, usize> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().map(|(_, c)| c) {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                if chars.next().map(|(_, c)| c) != Some('{') {
                    return Err(i);
                }
                let hex: String = chars
                    .by_ref()
                    .map(|(_, c)| c)
                    .take_while(|c| *c != '}')
                    .collect();
                if hex.is_empty() || hex.len() > 6 {
                    return Err(i);
                }
                let scalar = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or(i)?;
                out.push(scalar);
            }
            _ => return Err(i),
        }
    }
    Ok(out)
}
