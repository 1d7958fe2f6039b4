//! pest pairs → typed AST (pest's own errors become diagnostics in `errors`).

use super::ast::*;
use super::errors::syntax_error;
use super::grammar::{Rule, StudyParser};
use super::lexical::{Comments, lex};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::Parser;
use pest::iterators::Pair;

/// Parses one file's text. All syntax problems end as diagnostics; nothing here panics on any input.
pub fn parse_file(file: FileId, text: &str) -> Result<File, Vec<Diagnostic>> {
    let comments = lex(file, text)?;
    let pairs = match StudyParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(_) => return Err(vec![syntax_error(file, text)]),
    };
    let mut builder = AstBuilder {
        file,
        text,
        comments,
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

struct AstBuilder<'t> {
    file: FileId,
    text: &'t str,
    comments: Comments,
    errors: Vec<Diagnostic>,
}

impl AstBuilder<'_> {
    /// The span of a pair without the spaces and comments pest's implicit skipping may leave at its end (a
    /// rule ending in an optional part swallows the skip before it). Newlines are never skipped there.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let (start, mut end) = (pair.as_span().start(), pair.as_span().end());
        let bytes = self.text.as_bytes();
        loop {
            while end > start && matches!(bytes[end - 1], b' ' | b'\t') {
                end -= 1;
            }
            // A comment ending here, wholly inside the pair, is trailing too.
            let i = self.comments.partition_point(|&(_, e)| e < end);
            match self.comments.get(i) {
                Some(&(s, e)) if e == end && s >= start => end = s,
                _ => return Span::new(self.file, start, end),
            }
        }
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
        let mantissa = text.split(['e', 'E']).next().unwrap_or("");
        let underflows = value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
        if !value.is_finite() {
            self.errors.push(
                Diagnostic::new(Code::BadNumber, format!("`{text}` is not a finite number"))
                    .at(span, "too large to represent")
                    .help("use a number between -1.7e308 and 1.7e308"),
            );
        } else if underflows {
            self.errors.push(
                Diagnostic::new(
                    Code::BadNumber,
                    format!("`{text}` is too small to represent: it would be read as 0"),
                )
                .at(span, "too close to zero")
                .help("use 0, or a number no smaller in size than 2.3e-308"),
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
            Rule::numeric => {
                let mut inner = pair.into_inner();
                let lo = self.number(inner.next().expect("a number"));
                match inner.next() {
                    Some(hi) => Value::Range(lo, self.number(hi), span),
                    None => Value::Number(lo),
                }
            }
            Rule::string => Value::Str(self.string(pair)),
            Rule::boolean => Value::Bool(pair.as_str() == "true", span),
            Rule::list => Value::List(pair.into_inner().map(|p| self.value(p)).collect(), span),
            _ => {
                let mut inner = pair.into_inner().peekable();
                let name = self.ident(inner.next().expect("a name"));
                match inner.next_if(|p| p.as_rule() == Rule::arguments) {
                    Some(arguments) => {
                        let args = arguments
                            .into_inner()
                            .map(|arg| self.argument(arg))
                            .collect();
                        Value::Call(Call { name, args, span })
                    }
                    None => {
                        let mut path = vec![name];
                        path.extend(inner.map(|p| self.ident(p)));
                        Value::Path(path, span)
                    }
                }
            }
        }
    }

    fn argument(&mut self, arg: Pair<Rule>) -> Argument {
        let span = self.span(&arg);
        let mut parts: Vec<_> = arg.into_inner().collect();
        let value_pair = parts.pop().expect("argument has a value");
        let name = parts.pop().map(|n| self.ident(n));
        Argument {
            name,
            value: self.value(value_pair),
            span,
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
