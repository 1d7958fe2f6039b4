//! Did-you-mean: the closest known name to a misspelt one.

/// Names longer than this get no suggestion: a typo is found in names people type.
const LONGEST_SUGGESTED: usize = 64;

/// The closest candidate to `name`, if it is close enough to be a likely typo. Candidates whose length
/// alone puts them too far are skipped before any distance is computed, so the cost is linear in the
/// candidates and at most 64 × 64 character steps per comparison.
pub fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let length = name.chars().count();
    if length > LONGEST_SUGGESTED {
        return None;
    }
    let limit = (length / 3).max(1) + usize::from(name.len() > 6);
    candidates
        .into_iter()
        .filter(|c| c.len() <= 4 * LONGEST_SUGGESTED && c.chars().count().abs_diff(length) <= limit)
        .map(|c| (strsim::osa_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or the list of what is allowed. When the two differ only by characters that look
/// alike or cannot be seen, it says which.
pub fn did_you_mean(name: &str, allowed: &[&str]) -> String {
    match suggest(name, allowed.iter().copied()) {
        Some(s) => match lookalike_difference(name, s) {
            Some(why) => format!("did you mean `{s}`? {why}"),
            None => format!("did you mean `{s}`?"),
        },
        None if allowed.is_empty() => "nothing is accepted here".into(),
        None => format!(
            "expected one of: {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// "`hоsp_a` has `о` (U+043E CYRILLIC SMALL LETTER O) where `hosp_a` has `o`" when `written` is `meant`
/// but for look-alike or invisible characters.
fn lookalike_difference(written: &str, meant: &str) -> Option<String> {
    use super::unicode::{code_point, lookalike, shown};
    let ascii: String = written
        .chars()
        .map(|c| lookalike(c).map_or(c.to_string(), |l| l.ascii.to_string()))
        .collect();
    if ascii != meant || written == meant {
        return None;
    }
    let (c, look) = written.chars().find_map(|c| lookalike(c).map(|l| (c, l)))?;
    let has = if look.ascii.is_empty() {
        "an invisible character".to_string()
    } else {
        format!("`{}` where `{meant}` has `{}`", shown(c), look.ascii)
    };
    Some(format!(
        "The name written has {has}: {} {}.",
        code_point(c),
        look.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_unrelated_words() {
        assert_eq!(
            suggest("momentun", ["momentum", "lr", "nesterov"]),
            Some("momentum")
        );
        assert_eq!(suggest("smal", ["small", "wide"]), Some("small"));
        assert_eq!(
            suggest("normalise", ["normalize", "resize"]),
            Some("normalize")
        );
        assert_eq!(suggest("transformer", ["cnn", "resnet", "vgg"]), None);
        assert_eq!(suggest("x", ["abc"]), None);
    }

    #[test]
    fn look_alike_letters_are_named() {
        assert_eq!(
            did_you_mean("h\u{43e}sp_a", &["hosp_a", "hosp_b"]),
            "did you mean `hosp_a`? The name written has `\u{43e}` where `hosp_a` has `o`: U+043E CYRILLIC SMALL LETTER O."
        );
        assert!(
            did_you_mean("hosp_a\u{200b}", &["hosp_a"]).contains("an invisible character: U+200B")
        );
    }

    #[test]
    fn did_you_mean_lists_options_when_nothing_is_close() {
        assert_eq!(
            did_you_mean("rmsprop", &["sgd", "adam"]),
            "expected one of: `sgd`, `adam`"
        );
        assert_eq!(
            did_you_mean("adma", &["sgd", "adam"]),
            "did you mean `adam`?"
        );
    }
}
