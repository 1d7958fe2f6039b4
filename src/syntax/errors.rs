//! Text pest rejected → one diagnostic: where, what was expected (in readable names), and a hint for the
//! mistakes people make most.

use super::grammar::{Rule, StudyParser};
use super::lexical::{Piece, walk};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::Parser;

/// Builds the diagnostic for text pest rejected, with readable names of what was expected.
pub fn syntax_error(file: FileId, text: &str) -> Diagnostic {
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
    if let Some(help) = misspelt_kind(before, found) {
        return Some(help);
    }
    if found.starts_with('\'') {
        return Some("strings use double quotes: \"text\"".into());
    }
    if found.is_empty() {
        return Some("the file ends early: check for an unclosed `{`, `[` or `(`".into());
    }
    None
}

/// A word at the start of a line where a declaration was expected, close to a declaration kind
/// (`modle`, `Model`).
fn misspelt_kind(before: &str, found: &str) -> Option<String> {
    if !before.is_empty()
        || !found.starts_with(|c: char| c.is_ascii_alphabetic())
        || found.len() > 40
    {
        return None;
    }
    let kinds: Vec<&str> = crate::syntax::ast::DeclKind::ALL
        .iter()
        .map(|k| k.keyword())
        .chain(["study", "include"])
        .collect();
    let lower = found.to_ascii_lowercase();
    let kind = kinds
        .iter()
        .find(|k| **k == lower)
        .copied()
        .or_else(|| crate::diagnostics::suggest(&lower, kinds.iter().copied()))?;
    let why = if kind == lower {
        " (keywords are lower case)"
    } else {
        ""
    };
    Some(format!(
        "did you mean `{kind}`?{why} A line starts with a declaration kind: {}",
        kinds.join(", ")
    ))
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
        return crate::source::clip(rest, word_len.min(40));
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
        Rule::numeric | Rule::number | Rule::numeral => "a number",
        Rule::unit => "a unit (`%` or `px`)",
        Rule::boolean => "`true` or `false`",
        Rule::string | Rule::string_body => "a string",
        Rule::list => "a list `[...]`",
        Rule::arguments => "arguments `(...)`",
        Rule::argument => "an argument",
        Rule::named | Rule::ident => "a name",
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
