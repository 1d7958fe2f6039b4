//! Reading blocks, calls and values with typed errors: the vocabulary every declaration checker uses.

use super::Checker;
use crate::diagnostics::{Code, Diagnostic, did_you_mean};
use crate::source::Span;
use crate::syntax::ast::*;
use indexmap::IndexMap;

/// "… given twice": the second place and the first one, both labelled.
pub fn conflict(code: Code, message: impl Into<String>, again: Span, first: Span) -> Diagnostic {
    Diagnostic::new(code, message)
        .at(again, "given again here")
        .also(first, "first given here")
}

/// How messages name a declaration: `KIND `name``.
pub fn decl_owner(decl: &crate::syntax::ast::Decl) -> String {
    format!(
        "{} `{}`",
        decl.kind.keyword(),
        decl.name.as_ref().map_or("", |n| n.name.as_str())
    )
}

/// The entries of a block, by key, after unknown and duplicate keys were reported.
pub struct Entries<'b> {
    pub map: IndexMap<&'b str, &'b Entry>,
    pub mappings: Vec<&'b Mapping>,
    pub rules: Vec<&'b super::super::syntax::ast::Rule>,
    pub keeps: Vec<&'b Keep>,
    /// Entries of repeatable keys (marked `key*` in the allowed list), in order.
    pub repeated: Vec<&'b Entry>,
    pub span: Span,
    /// Whether the block had keys it does not allow (checks of the whole block, like a sum, then stay
    /// silent: their complaint would be a consequence).
    pub had_unknown: bool,
}

/// Allowed keys without the `*` that marks repeatable ones.
fn plain<'s>(allowed: &[&'s str]) -> Vec<&'s str> {
    allowed.iter().map(|a| a.trim_end_matches('*')).collect()
}

impl<'b> Entries<'b> {
    pub fn get(&self, key: &str) -> Option<&'b Entry> {
        self.map.get(key).copied()
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
}

/// Which non-entry items a block accepts.
#[derive(Clone, Copy, Default)]
pub struct Allow {
    pub mappings: bool,
    pub keep: bool,
    pub rules: bool,
}

/// Named and positional arguments of a call, by parameter name.
pub struct Args<'b> {
    pub map: IndexMap<&'b str, &'b Value>,
    pub span: Span,
}

impl<'b> Args<'b> {
    pub fn get(&self, name: &str) -> Option<&'b Value> {
        self.map.get(name).copied()
    }
}

impl Checker<'_> {
    pub fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Reads a block (or its absence) whose keys must be among `allowed`.
    /// The entries of a declaration's block, named `owner` in messages, none of them special (`keep`,
    /// mappings, rules).
    pub fn block_entries<'b>(
        &mut self,
        decl: &'b Decl,
        owner: &str,
        allowed: &[&str],
    ) -> Entries<'b> {
        self.entries(
            decl.block.as_ref(),
            owner,
            allowed,
            Allow::default(),
            decl.span,
        )
    }

    pub fn entries<'b>(
        &mut self,
        block: Option<&'b Block>,
        owner: &str,
        allowed: &[&str],
        allow: Allow,
        at: Span,
    ) -> Entries<'b> {
        let mut out = Entries {
            map: IndexMap::new(),
            mappings: vec![],
            rules: vec![],
            keeps: vec![],
            repeated: vec![],
            span: block.map_or(at, |b| b.span),
            had_unknown: false,
        };
        let Some(block) = block else { return out };
        for item in &block.items {
            match item {
                BlockItem::Entry(e) => {
                    let key = e.key.name.as_str();
                    let repeatable = allowed.iter().any(|a| a.strip_suffix('*') == Some(key));
                    if repeatable {
                        out.repeated.push(e);
                    } else if !allowed.contains(&key) {
                        out.had_unknown = true;
                        let allowed = plain(allowed);
                        self.note_misspelling(&e.key, &allowed);
                        self.error(
                            Diagnostic::new(
                                Code::UnknownEntry,
                                format!("{owner} has no entry `{key}`"),
                            )
                            .at(e.key.span, "unknown entry")
                            .help(did_you_mean(key, &allowed)),
                        );
                    } else if let Some(first) = out.map.get(key) {
                        self.error(
                            conflict(
                                Code::DuplicateEntry,
                                format!("`{key}` is given twice in {owner}"),
                                e.key.span,
                                first.key.span,
                            )
                            .help("keep one of them"),
                        );
                    } else {
                        out.map.insert(key, e);
                    }
                }
                BlockItem::Mapping(m) if allow.mappings => out.mappings.push(m),
                BlockItem::Rule(r) if allow.rules => out.rules.push(r),
                BlockItem::Keep(k) if allow.keep => out.keeps.push(k),
                other => {
                    let what = match other {
                        BlockItem::Mapping(_) => "a label mapping",
                        BlockItem::Rule(_) => "a decision rule",
                        _ => "a `keep` filter",
                    };
                    self.error(
                        Diagnostic::new(
                            Code::UnknownEntry,
                            format!("{what} is not allowed in {owner}"),
                        )
                        .at(other.span(), "not allowed here")
                        .help(format!("{owner} accepts: {}", plain(allowed).join(", "))),
                    );
                }
            }
        }
        out
    }

    /// Reads a declaration's block; the owner named in messages is `KIND `name``.
    pub fn decl_entries<'b>(
        &mut self,
        decl: &'b crate::syntax::ast::Decl,
        allowed: &[&str],
        allow: Allow,
    ) -> (String, Entries<'b>) {
        let owner = decl_owner(decl);
        let entries = self.entries(decl.block.as_ref(), &owner, allowed, allow, decl.span);
        (owner, entries)
    }

    /// Reads a call's arguments. The first `positional` parameters may be given without names.
    pub fn args<'b>(
        &mut self,
        call: &'b Call,
        owner: &str,
        params: &[&'b str],
        positional: usize,
    ) -> Args<'b> {
        let mut out = Args {
            map: IndexMap::new(),
            span: call.span,
        };
        let mut spans: IndexMap<&str, Span> = IndexMap::new();
        for (i, arg) in call.args.iter().enumerate() {
            let name = match &arg.name {
                Some(n) if params.contains(&n.name.as_str()) => n.name.as_str(),
                Some(n) => {
                    self.note_misspelling(n, params);
                    self.error(
                        Diagnostic::new(
                            Code::UnknownEntry,
                            format!("{owner} has no parameter `{}`", n.name),
                        )
                        .at(n.span, "unknown parameter")
                        .help(did_you_mean(&n.name, params)),
                    );
                    continue;
                }
                None if i < positional => params[i],
                None => {
                    let help = if positional == 0 {
                        format!(
                            "name the argument: {}",
                            params
                                .iter()
                                .map(|p| format!("`{p}:`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    } else {
                        format!("{owner} takes {positional} unnamed argument(s); name the others")
                    };
                    self.error(
                        Diagnostic::new(
                            Code::UnknownEntry,
                            format!("too many unnamed arguments to {owner}"),
                        )
                        .at(arg.span, "unexpected argument")
                        .help(help),
                    );
                    continue;
                }
            };
            if let Some(first) = spans.get(name) {
                self.error(
                    conflict(
                        Code::DuplicateEntry,
                        format!("`{name}` is given twice to {owner}"),
                        arg.span,
                        *first,
                    )
                    .help("keep one of them"),
                );
                continue;
            }
            spans.insert(name, arg.span);
            out.map.insert(name, &arg.value);
        }
        out
    }

    /// Remembers an unknown key that is a likely typo of an allowed one, so that the allowed key is not
    /// also reported missing: the typo is the cause, and its diagnostic already says "did you mean".
    fn note_misspelling(&mut self, key: &Ident, allowed: &[&str]) {
        if let Some(meant) = crate::diagnostics::suggest(&key.name, allowed.iter().copied()) {
            self.misspelt.push((key.span, meant.to_string()));
        }
    }

    pub fn missing(&mut self, at: Span, owner: &str, what: &str, example: &str) {
        let misspelt_here = self
            .misspelt
            .iter()
            .any(|(span, meant)| meant == what && at.contains(*span));
        if misspelt_here {
            return;
        }
        self.error(
            Diagnostic::new(Code::MissingEntry, format!("{owner} needs `{what}`"))
                .at(at, format!("`{what}` missing"))
                .help(format!("add it, for example: {example}")),
        );
    }

    pub fn wrong_type(&mut self, v: &Value, expected: &str, what: &str) {
        self.error(
            Diagnostic::new(
                Code::WrongType,
                format!("{what} must be {expected}, found {}", v.describe()),
            )
            .at(v.span(), format!("expected {expected}")),
        );
    }

    /// W0002: a value the language accepts but that is most likely a mistake.
    pub fn suspicious(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.error(
            Diagnostic::new(Code::Suspicious, message)
                .at(span, "allowed, but likely wrong")
                .help(help),
        );
    }

    pub fn out_of_range(&mut self, span: Span, message: String, help: &str) {
        self.error(
            Diagnostic::new(Code::OutOfRange, message)
                .at(span, "out of range")
                .help(help),
        );
    }

    /// The single value of an entry (`key value`).
    pub fn one<'b>(&mut self, e: &'b Entry) -> Option<&'b Value> {
        if e.values.len() == 1 && e.block.is_none() {
            return e.values.first();
        }
        let at = e.values.get(1).map_or(e.span, |v| v.span().to(e.span));
        self.error(
            Diagnostic::new(
                Code::WrongType,
                format!("`{}` takes exactly one value", e.key.name),
            )
            .at(
                if e.values.is_empty() { e.span } else { at },
                "expected one value",
            )
            .help(format!(
                "write `{} VALUE`; lists are written `[a, b]`",
                e.key.name
            )),
        );
        None
    }

    /// An entry that is a flag (`per_source`) or a boolean (`per_source true`).
    pub fn flag(&mut self, e: &Entry) -> Option<bool> {
        if e.values.is_empty() && e.block.is_none() {
            return Some(true);
        }
        let v = self.one(e)?;
        self.boolean(v, &format!("`{}`", e.key.name))
    }

    pub fn boolean(&mut self, v: &Value, what: &str) -> Option<bool> {
        match v {
            Value::Bool(b, _) => Some(*b),
            _ => {
                self.wrong_type(v, "`true` or `false`", what);
                None
            }
        }
    }

    /// A plain number (no `%`, no `px`).
    pub fn number(&mut self, v: &Value, what: &str) -> Option<f64> {
        match v {
            Value::Number(n) if n.unit == Unit::None => Some(n.value),
            Value::Number(n) => {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        format!("{what} is a plain number, not {}", v.describe()),
                    )
                    .at(n.span, "unit not allowed here")
                    .help(format!("write `{}`", n.text)),
                );
                None
            }
            _ => {
                self.wrong_type(v, "a number", what);
                None
            }
        }
    }

    /// A number in `min..=max`.
    pub fn number_in(&mut self, v: &Value, what: &str, min: f64, max: f64) -> Option<f64> {
        let x = self.number(v, what)?;
        if x < min || x > max {
            self.out_of_range(
                v.span(),
                format!("{what} must be between {min} and {max}, found {x}"),
                "use a value inside the range",
            );
            return None;
        }
        Some(x)
    }

    /// A number strictly greater than zero.
    pub fn positive(&mut self, v: &Value, what: &str) -> Option<f64> {
        let x = self.number(v, what)?;
        if x <= 0.0 {
            self.out_of_range(
                v.span(),
                format!("{what} must be greater than 0, found {x}"),
                "use a positive value",
            );
            return None;
        }
        Some(x)
    }

    /// A whole number in `min..=max`; `px` is accepted where `pixels` is true.
    pub fn integer(
        &mut self,
        v: &Value,
        what: &str,
        min: u64,
        max: u64,
        pixels: bool,
    ) -> Option<u64> {
        let n = match v {
            Value::Number(n) if n.unit == Unit::None || (pixels && n.unit == Unit::Px) => n,
            Value::Number(_) => {
                self.wrong_type(
                    v,
                    if pixels {
                        "a whole number of pixels"
                    } else {
                        "a whole number"
                    },
                    what,
                );
                return None;
            }
            _ => {
                self.wrong_type(v, "a whole number", what);
                return None;
            }
        };
        if n.value.fract() != 0.0 {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    format!("{what} must be a whole number, found {}", n.text),
                )
                .at(n.span, "not a whole number"),
            );
            return None;
        }
        if n.value < min as f64 || n.value > max as f64 {
            let help = if min > 0 && n.value < min as f64 {
                format!("use at least {min}")
            } else {
                format!("use at most {max}")
            };
            self.out_of_range(
                n.span,
                format!("{what} must be between {min} and {max}, found {}", n.text),
                &help,
            );
            return None;
        }
        Some(n.value as u64)
    }

    pub fn count(&mut self, v: &Value, what: &str, min: u64, max: u64) -> Option<u32> {
        self.integer(v, what, min, max, false).map(|x| x as u32)
    }

    /// A share between 0 and 1, written `80%` or `0.8`.
    pub fn fraction(&mut self, v: &Value, what: &str) -> Option<f64> {
        let Value::Number(n) = v else {
            self.wrong_type(v, "a percentage", what);
            return None;
        };
        let x = match n.unit {
            Unit::Percent => n.value / 100.0,
            Unit::None => n.value,
            Unit::Px => {
                self.wrong_type(v, "a percentage", what);
                return None;
            }
        };
        if !(0.0..=1.0).contains(&x) {
            let help = if n.unit == Unit::None {
                format!(
                    "write a percentage such as `{}%`, or a share between 0 and 1",
                    n.text
                )
            } else {
                "use a value between 0% and 100%".into()
            };
            self.out_of_range(
                n.span,
                format!(
                    "{what} must be between 0% and 100%, found {}",
                    crate::syntax::format::number_text(n)
                ),
                &help,
            );
            return None;
        }
        Some(x)
    }

    pub fn string(&mut self, v: &Value, what: &str) -> Option<String> {
        match v {
            Value::Str(s) => Some(s.value.clone()),
            _ => {
                self.wrong_type(v, "a string", what);
                None
            }
        }
    }

    /// A non-empty string naming a path; resolved relative to the file it is written in.
    /// A weights file: a path, warned about (W0002) unless it ends in a format the loader reads.
    pub fn weights_path(&mut self, v: &Value) -> Option<String> {
        let path = self.path(v, "the weights file")?;
        let known = [".safetensors", ".pt", ".pth"];
        if !known.iter().any(|x| path.to_ascii_lowercase().ends_with(x)) {
            self.suspicious(
                v.span(),
                format!("`{path}` is read as a PyTorch state dict, but it does not end in .pt, .pth or .safetensors"),
                "convert the weights to .safetensors or a PyTorch state dict (.pt/.pth)",
            );
        }
        Some(path)
    }

    pub fn path(&mut self, v: &Value, what: &str) -> Option<String> {
        let s = self.string(v, what)?;
        if s.trim().is_empty() {
            self.out_of_range(v.span(), format!("{what} is empty"), "give a path");
            return None;
        }
        Some(self.bounded_path(v.span(), &s))
    }

    pub fn ident<'b>(&mut self, v: &'b Value, what: &str) -> Option<&'b Ident> {
        let id = v.as_ident();
        if id.is_none() {
            self.wrong_type(v, "a name", what);
        }
        id
    }

    /// One of a fixed set of words.
    pub fn choice(&mut self, v: &Value, what: &str, options: &[&str]) -> Option<String> {
        let id = self.ident(v, what)?;
        if options.contains(&id.name.as_str()) {
            return Some(id.name.clone());
        }
        self.error(
            Diagnostic::new(
                Code::UnknownConstructor,
                format!("`{}` is not a valid {what}", id.name),
            )
            .at(id.span, "unknown value")
            .help(did_you_mean(&id.name, options)),
        );
        None
    }

    /// A list, or a single value read as a list of one.
    pub fn list<'b>(&mut self, v: &'b Value) -> &'b [Value] {
        match v {
            Value::List(items, _) => items,
            other => std::slice::from_ref(other),
        }
    }

    /// E0017 for each item given again in one list (`classes [covid, normal, covid]`): a list that names a
    /// set says each member once. Returns false when there was a repeat.
    pub fn no_repeats(&mut self, items: &[(String, Span)], what: &str) -> bool {
        let mut first: std::collections::HashMap<&str, Span> = std::collections::HashMap::new();
        let mut fine = true;
        for (item, span) in items {
            match first.get(item.as_str()) {
                Some(earlier) => {
                    self.error(
                        conflict(
                            Code::DuplicateEntry,
                            format!("{what} `{item}` is listed twice"),
                            *span,
                            *earlier,
                        )
                        .help("list it once"),
                    );
                    fine = false;
                }
                None => {
                    first.insert(item, *span);
                }
            }
        }
        fine
    }

    /// A list of strings or names (source names are often not valid identifiers, so both are taken),
    /// each given once.
    pub fn names(&mut self, v: &Value, what: &str) -> Option<Vec<(String, Span)>> {
        let mut out = Vec::new();
        let mut ok = true;
        for item in self.list(v) {
            match item {
                Value::Str(s) => out.push((s.value.clone(), s.span)),
                _ => match item.as_ident() {
                    Some(id) => out.push((id.name.clone(), id.span)),
                    None => {
                        self.wrong_type(item, "a name or a string", what);
                        ok = false;
                    }
                },
            }
        }
        let distinct = self.no_repeats(&out, what);
        (ok && distinct).then_some(out)
    }
}

/// A share as a percentage for messages: one decimal, or as many as it takes (up to six) for a total
/// that is not 100% to read as something other than `100` ("99.99", not "100").
pub(in crate::check) fn percent_text(share: f64) -> String {
    let percent = share * 100.0;
    for decimals in 1..=6 {
        let scale = 10f64.powi(decimals);
        let rounded = (percent * scale).round() / scale;
        if (rounded - 100.0).abs() > 0.0 || (share - 1.0).abs() <= 1e-9 {
            return format!("{rounded}");
        }
    }
    format!("{percent}")
}

/// A share as a percentage to six decimals at most, without trailing zeros (`33.34`).
pub(in crate::check) fn exact_percent(share: f64) -> String {
    let text = format!("{:.6}", share * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
