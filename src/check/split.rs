//! Splits: which images train, select and test, and which sources are seen or unseen.

use super::Checker;
use super::values::{Allow, decl_owner};
use crate::diagnostics::did_you_mean;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{Decl, DeclKind, Value};
use indexmap::IndexMap;

impl Checker<'_> {
    pub(super) fn split(&mut self, decl: &Decl) -> Option<Split> {
        let options = [
            "random",
            "by_source",
            "leave_one_source_out",
            "kfold",
            "column",
        ];
        let (variant, call) = self.variant(
            decl,
            &options,
            "split s = by_source { data d, seen [\"a\"], unseen [\"b\"] }",
        )?;
        let method_name = variant.name.as_str();
        let owner = decl_owner(decl);
        let specific: &[&str] = match method_name {
            "by_source" => &["seen", "unseen"],
            "leave_one_source_out" => &["sources"],
            "column" => &["values"],
            _ => &[],
        };
        let mut allowed = vec!["data", "fractions", "stratify", "group", "tests"];
        allowed.extend_from_slice(specific);
        let e = self.block_entries(decl, &owner, &allowed);

        let data_value = match e.get("data").and_then(|d| self.one(d)) {
            Some(v) => Some(v),
            None => {
                if !e.has("data") {
                    self.missing(e.span, &owner, "data", "data my_dataset");
                }
                None
            }
        };
        let data = data_value.and_then(|v| self.reference_value(v, DeclKind::Dataset));
        let known_sources = data
            .as_ref()
            .and_then(|d| self.study.datasets.get(d))
            .and_then(|d| d.sources.clone());

        let mut ok = data.is_some();
        // A split trains on its data: one known class cannot be trained on (a one-label collection goes
        // into a union with collections of the other labels).
        if let (Some(v), Some(classes)) = (
            data_value,
            data.as_ref()
                .and_then(|d| self.study.datasets.get(d))
                .and_then(|d| d.classes.as_ref()),
        ) && classes.len() < 2
        {
            self.error(
                Diagnostic::new(
                    Code::OutOfRange,
                    format!(
                        "the split's data has one class only ({}); a classifier is trained on two",
                        classes.join(", ")
                    ),
                )
                .at(v.span(), "one class")
                .help("split a union of this dataset with datasets of the other classes"),
            );
            ok = false;
        }
        let stratify = match e.get("stratify") {
            Some(s) => self.flag(s).unwrap_or_else(|| {
                ok = false;
                true
            }),
            None => true,
        };
        let group = match e.get("group").and_then(|g| self.one(g)) {
            Some(v) => match self.ident(v, "the grouping column") {
                Some(id) => Some(id.name.clone()),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let source_split = matches!(method_name, "by_source" | "leave_one_source_out");
        let method = match (method_name, call) {
            ("random", None) => SplitMethod::Random,
            ("kfold", Some(c)) => {
                let args = self.args(c, "`kfold`", &["k"], 1);
                let Some(k) = args.get("k") else {
                    self.missing(c.span, "`kfold`", "k", "kfold(5)");
                    return None;
                };
                let folds = self.count(k, "the number of folds", 2, 100)?;
                if let Some((_, images)) = data.as_deref().and_then(|d| self.synthetic_shape(d))
                    && images < folds
                {
                    self.out_of_range(
                        k.span(),
                        format!("{folds} folds of {images} images leave some folds empty"),
                        "use at most as many folds as there are images, usually 5 or 10",
                    );
                    return None;
                }
                SplitMethod::KFold { k: folds }
            }
            ("column", Some(c)) => {
                let args = self.args(c, "`column`", &["name"], 1);
                let Some(column) = args
                    .get("name")
                    .and_then(|v| self.string(v, "the partition column"))
                else {
                    if args.get("name").is_none() {
                        self.missing(c.span, "`column`", "name", "column(\"partition\")");
                    }
                    return None;
                };
                let values = self.partition_values(&e)?;
                SplitMethod::Column { column, values }
            }
            ("by_source", None) => {
                let seen_value = e.get("seen").and_then(|s| self.one(s));
                let seen = self.source_list(seen_value, "seen", &known_sources);
                let unseen_value = e.get("unseen").and_then(|s| self.one(s));
                let unseen = self.source_list(unseen_value, "unseen", &known_sources);
                let (Some(seen), Some(unseen)) = (seen, unseen) else {
                    if !e.has("seen") {
                        self.missing(e.span, &owner, "seen", "seen [\"site_a\", \"site_b\"]");
                    }
                    return None;
                };
                if seen.is_empty() {
                    self.missing(e.span, &owner, "seen", "seen [\"site_a\"]");
                    return None;
                }
                for (name, span) in &unseen {
                    if let Some((_, first)) = seen.iter().find(|(s, _)| s == name) {
                        self.error(
                            Diagnostic::new(Code::SeenAndUnseen, format!("source `{name}` is both seen and unseen"))
                                .at(*span, "listed as unseen")
                                .also(*first, "listed as seen")
                                .help("a source is either trained on (seen) or held out (unseen), never both"),
                        );
                        ok = false;
                    }
                }
                let mut unseen: Vec<String> = unseen.into_iter().map(|(n, _)| n).collect();
                let seen: Vec<String> = seen.into_iter().map(|(n, _)| n).collect();
                // Without an explicit list, every other known source is unseen.
                if !e.has("unseen")
                    && let Some(all) = &known_sources
                {
                    unseen = all.iter().filter(|s| !seen.contains(s)).cloned().collect();
                }
                let seen_classes = data
                    .as_deref()
                    .and_then(|d| self.synthetic_classes(d, &seen));
                if let (Some(classes), Some(v)) = (seen_classes, seen_value)
                    && classes.len() < 2
                {
                    self.error(
                        Diagnostic::new(
                            Code::IncompatibleChoice,
                            format!(
                                "the seen sources hold images of {} only: a classifier needs two classes to train on",
                                classes.first().map_or("no class".to_string(), |c| format!("`{c}`"))
                            ),
                        )
                        .at(v.span(), "every seen source has one class")
                        .help("add a seen source with images of the other class"),
                    );
                    return None;
                }
                SplitMethod::BySource { seen, unseen }
            }
            ("leave_one_source_out", None) => {
                let sources = match e.get("sources").and_then(|s| self.one(s)) {
                    Some(v) => self.source_list(Some(v), "sources", &known_sources)?,
                    None => match &known_sources {
                        Some(all) => all.iter().map(|s| (s.clone(), decl.name_span())).collect(),
                        None => {
                            self.missing(
                                e.span,
                                &owner,
                                "sources",
                                "sources [\"a\", \"b\", \"c\"]",
                            );
                            return None;
                        }
                    },
                };
                if sources.len() < 2 {
                    let at = e.get("sources").map_or(decl.name_span(), |s| s.span);
                    self.error(
                        Diagnostic::new(
                            Code::TooFewSources,
                            format!("leave-one-source-out over {} source(s)", sources.len()),
                        )
                        .at(at, "needs at least two sources")
                        .help("list two or more sources, or use a `by_source` split"),
                    );
                    return None;
                }
                SplitMethod::LeaveOneSourceOut {
                    sources: sources.into_iter().map(|(n, _)| n).collect(),
                }
            }
            (_, Some(c)) => {
                self.error(
                    Diagnostic::new(
                        Code::UnknownEntry,
                        format!("`{method_name}` takes no arguments"),
                    )
                    .at(c.span, "arguments not allowed")
                    .help("set its entries in the block"),
                );
                return None;
            }
            (_, None) => {
                let example = if method_name == "kfold" {
                    "kfold(5)"
                } else {
                    "column(\"partition\")"
                };
                self.missing(
                    variant.span,
                    &format!("`{method_name}`"),
                    "arguments",
                    example,
                );
                return None;
            }
        };

        let fractions = if matches!(method, SplitMethod::Column { .. }) {
            if let Some(f) = e.get("fractions") {
                self.error(
                    Diagnostic::new(
                        Code::IncompatibleChoice,
                        "a column split takes its partitions from the manifest",
                    )
                    .at(f.span, "fractions not used")
                    .help("remove `fractions`"),
                );
                ok = false;
            }
            IndexMap::new()
        } else {
            let held_out = if source_split { "seen" } else { "test" };
            self.fractions(
                e.get("fractions"),
                held_out,
                matches!(method, SplitMethod::KFold { .. }),
            )?
        };
        let mut split = Split {
            origin: self.origin(decl.name_span()),
            data: data?,
            method,
            fractions,
            stratify,
            group,
            tests: IndexMap::new(),
        };
        split.tests = self.test_sets(e.get("tests"), &split, &known_sources)?;
        ok.then_some(split)
    }

    /// `tests { covid_vs_nih [figure1, nih] }`: named sets of held-out images of chosen sources, each a
    /// known source list, named unlike the split's partitions.
    fn test_sets(
        &mut self,
        entry: Option<&crate::syntax::ast::Entry>,
        split: &Split,
        known: &Option<Vec<String>>,
    ) -> Option<IndexMap<String, Vec<String>>> {
        let mut out = IndexMap::new();
        let Some(entry) = entry else {
            return Some(out);
        };
        let example = "tests { covid_vs_nih [figure1, nih] }";
        let Some(block) = entry.block.as_ref().filter(|_| entry.values.is_empty()) else {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    "`tests` takes a block of named source lists",
                )
                .at(entry.span, "expected `tests { ... }`")
                .help(format!("for example: {example}")),
            );
            return None;
        };
        let partitions = split.partitions();
        let mut ok = true;
        for item in &block.items {
            let crate::syntax::ast::BlockItem::Entry(set) = item else {
                continue;
            };
            let name = &set.key.name;
            if partitions.contains(name) || out.contains_key(name) {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateName,
                        format!("`{name}` already names a partition or test set of this split"),
                    )
                    .at(set.key.span, "name taken")
                    .help("give the test set a name of its own"),
                );
                ok = false;
                continue;
            }
            let [value] = set.values.as_slice() else {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        format!("test set `{name}` takes one list of sources"),
                    )
                    .at(set.span, "expected a list")
                    .help(format!("for example: {example}")),
                );
                ok = false;
                continue;
            };
            match self.source_list(Some(value), "test set", known) {
                Some(sources) if !sources.is_empty() => {
                    out.insert(name.clone(), sources.into_iter().map(|(s, _)| s).collect());
                }
                Some(_) => {
                    self.error(
                        Diagnostic::new(
                            Code::OutOfRange,
                            format!("test set `{name}` lists no source"),
                        )
                        .at(value.span(), "empty")
                        .help(format!("for example: {example}")),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// `fractions { train 70%, validation 10%, test 20% }`: must add up to 100 %.
    fn fractions(
        &mut self,
        entry: Option<&crate::syntax::ast::Entry>,
        held_out: &str,
        kfold: bool,
    ) -> Option<IndexMap<String, f64>> {
        let names: Vec<&str> = if kfold {
            vec!["train", "validation"]
        } else {
            vec!["train", "validation", held_out]
        };
        let mut out = IndexMap::new();
        let Some(entry) = entry else {
            let defaults: &[f64] = if kfold { &[0.9, 0.1] } else { &[0.7, 0.1, 0.2] };
            for (n, f) in names.iter().zip(defaults) {
                out.insert(n.to_string(), *f);
            }
            return Some(out);
        };
        if !entry.values.is_empty() || entry.block.is_none() {
            self.error(
                Diagnostic::new(Code::WrongType, "`fractions` takes a block")
                    .at(entry.span, "expected `fractions { ... }`")
                    .help(format!(
                        "for example: fractions {{ {} }}",
                        example_fractions(&names)
                    )),
            );
            return None;
        }
        let e = self.entries(
            entry.block.as_ref(),
            "fractions",
            &names,
            Allow::default(),
            entry.span,
        );
        let mut total = 0.0;
        let mut ok = true;
        for name in &names {
            if let Some(v) = e.get(name).and_then(|x| self.one(x)) {
                match self.fraction(v, &format!("the {name} share")) {
                    Some(f) => {
                        total += f;
                        out.insert(name.to_string(), f);
                    }
                    None => ok = false,
                }
            } else {
                out.insert(name.to_string(), 0.0);
            }
        }
        if !ok || e.had_unknown {
            return None;
        }
        if (total - 1.0).abs() > 1e-9 {
            self.error(
                Diagnostic::new(
                    Code::FractionSum,
                    format!(
                        "the fractions add up to {}%, not 100%",
                        super::values::percent_text(total)
                    ),
                )
                .at(entry.span, "must add up to 100%")
                .help(balancing_help(&out, total, &names)),
            );
            return None;
        }
        if out.get("train").copied().unwrap_or(0.0) == 0.0 {
            self.out_of_range(
                entry.span,
                "the train share is 0%".into(),
                "give the training partition a share above 0%",
            );
            return None;
        }
        Some(out)
    }

    /// `values { "tr" => train, "va" => validation, "te" => test }` of a column split.
    fn partition_values(&mut self, e: &super::values::Entries) -> Option<IndexMap<String, String>> {
        let Some(entry) = e.get("values") else {
            return Some(
                ["train", "validation", "test"]
                    .iter()
                    .map(|p| (p.to_string(), p.to_string()))
                    .collect(),
            );
        };
        let Some(block) = entry.block.as_ref().filter(|_| entry.values.is_empty()) else {
            self.error(
                Diagnostic::new(Code::WrongType, "`values` maps column values to partitions")
                    .at(entry.span, "expected a block of mappings")
                    .help("for example: values { \"tr\" => train, \"te\" => test }"),
            );
            return None;
        };
        let inner = self.entries(
            Some(block),
            "`values`",
            &[],
            Allow {
                mappings: true,
                ..Allow::default()
            },
            block.span,
        );
        let partitions = ["train", "validation", "test", "unseen"];
        let mut out = IndexMap::new();
        let mut ok = true;
        for m in &inner.mappings {
            let Some(raw) = &m.from else {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        "a partition column maps each value explicitly",
                    )
                    .at(m.span, "no wildcard here"),
                );
                ok = false;
                continue;
            };
            if !partitions.contains(&m.to.name.as_str()) {
                self.error(
                    Diagnostic::new(
                        Code::UnknownPartition,
                        format!("`{}` is not a partition", m.to.name),
                    )
                    .at(m.to.span, "unknown partition")
                    .help(did_you_mean(&m.to.name, &partitions)),
                );
                ok = false;
                continue;
            }
            out.insert(raw.value.clone(), m.to.name.clone());
        }
        if ok && !out.values().any(|p| p == "train") {
            self.missing(
                block.span,
                "`values`",
                "a value mapped to train",
                "\"tr\" => train",
            );
            ok = false;
        }
        ok.then_some(out)
    }

    /// A list of source names, checked against the dataset's sources when those are known.
    fn source_list(
        &mut self,
        v: Option<&Value>,
        what: &str,
        known: &Option<Vec<String>>,
    ) -> Option<Vec<(String, Span)>> {
        let Some(v) = v else { return Some(vec![]) };
        let names = self.names(v, &format!("a {what} source"))?;
        let mut ok = true;
        let mut seen: Vec<&str> = Vec::new();
        for (name, span) in &names {
            if seen.contains(&name.as_str()) {
                self.error(
                    Diagnostic::new(
                        Code::DuplicateEntry,
                        format!("source `{name}` is listed twice"),
                    )
                    .at(*span, "listed again"),
                );
                ok = false;
            }
            seen.push(name);
            if let Some(known) = known
                && !known.contains(name)
            {
                let options: Vec<&str> = known.iter().map(String::as_str).collect();
                self.error(
                    Diagnostic::new(
                        Code::UnknownSource,
                        format!("the dataset has no source `{name}`"),
                    )
                    .at(*span, "unknown source")
                    .help(did_you_mean(name, &options)),
                );
                ok = false;
            }
        }
        ok.then_some(names)
    }
}

fn example_fractions(names: &[&str]) -> String {
    let shares: &[&str] = if names.len() == 2 {
        &["90%", "10%"]
    } else {
        &["70%", "10%", "20%"]
    };
    names
        .iter()
        .zip(shares)
        .map(|(n, s)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// For a total that is a little off (thirds written as 33.33%), the last share that makes it exact;
/// otherwise an example.
fn balancing_help(given: &IndexMap<String, f64>, total: f64, names: &[&str]) -> String {
    let last = names.last().and_then(|n| given.get_key_value(*n));
    match last {
        Some((name, share)) if (total - 1.0).abs() < 0.05 && share + 1.0 - total > 0.0 => format!(
            "make them add up exactly, for example `{name} {}%`",
            super::values::exact_percent(share + 1.0 - total)
        ),
        _ => format!("for example: fractions {{ {} }}", example_fractions(names)),
    }
}
