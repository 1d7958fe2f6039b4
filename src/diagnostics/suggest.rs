//! Did-you-mean: the closest known name to a misspelt one.

/// The closest candidate to `name`, if it is close enough to be a likely typo.
pub fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).max(1) + usize::from(name.len() > 6);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len()))
        .map(|(_, c)| c)
}

/// "did you mean `x`?" or the list of what is allowed.
pub fn did_you_mean(name: &str, allowed: &[&str]) -> String {
    match suggest(name, allowed.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
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
