//! Whether a decision rule can mean anything: it reads at least one result, compares results of the same
//! kind (not a chi-square with an AUC), and compares a result with a number it can reach on both sides
//! (`auc.lower > 90` can never hold: 90 is not 90%).

use super::Checker;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::{CompareOp, Quantity, ResultRef, Statistic};

/// What a result measures, and the values it can take.
struct Kind {
    what: &'static str,
    low: f64,
    high: f64,
}

fn kind(r: &ResultRef) -> Kind {
    let (what, low, high) = match r.field.as_str() {
        "chi2" => ("a chi-square statistic", 0.0, f64::INFINITY),
        "p" => ("a p-value", 0.0, 1.0),
        "cramers_v" => ("Cramér's V", 0.0, 1.0),
        "gap" => ("a difference of metrics", -1.0, 1.0),
        "lung_share" => ("a share of saliency", 0.0, 1.0),
        _ => ("a metric", 0.0, 1.0),
    };
    match r.statistic {
        // A standard error is never negative, and never above the spread of what it measures.
        Statistic::Se => Kind {
            what,
            low: 0.0,
            high: high - low,
        },
        _ => Kind { what, low, high },
    }
}

/// The kind of a quantity when it is one result (or its negation is not involved).
fn kind_of(q: &Quantity) -> Option<Kind> {
    match q {
        Quantity::Result(r) => Some(kind(r)),
        _ => None,
    }
}

/// Whether `x op c` holds for every x in [low, high] (Some(true)), for none (Some(false)), or depends.
fn decided(low: f64, high: f64, op: CompareOp, c: f64) -> Option<bool> {
    let (always, never) = match op {
        CompareOp::Gt => (c < low, c >= high),
        CompareOp::Ge => (c <= low, c > high),
        CompareOp::Lt => (c > high, c <= low),
        CompareOp::Le => (c >= high, c < low),
        CompareOp::Eq => (false, c < low || c > high),
        CompareOp::Ne => (c < low || c > high, false),
    };
    if never {
        Some(false)
    } else if always {
        Some(true)
    } else {
        None
    }
}

impl Checker<'_> {
    /// E0025 for a comparison that cannot decide anything; `span` is the comparison's.
    pub(super) fn comparison_sense(
        &mut self,
        lhs: &Quantity,
        op: CompareOp,
        rhs: &Quantity,
        span: Span,
    ) -> bool {
        let bad = |this: &mut Self, message: String, help: &str| {
            this.error(
                Diagnostic::new(Code::BadRule, message)
                    .at(span, "this comparison")
                    .help(help.to_string()),
            );
            false
        };
        match (lhs, rhs) {
            (Quantity::Number(_), Quantity::Number(_)) => bad(
                self,
                "this comparison reads no result: it is decided before anything runs".into(),
                "compare a result with a number, for example `source_probe.auc.lower > 0.9`",
            ),
            (a, b) if kind_of(a).is_some() && kind_of(b).is_some() => {
                let (ka, kb) = (kind_of(a).expect("a result"), kind_of(b).expect("a result"));
                if ka.what == kb.what {
                    return true;
                }
                bad(
                    self,
                    format!("this rule compares {} with {}", ka.what, kb.what),
                    "compare results of one kind (metrics with metrics), or each with a threshold",
                )
            }
            (a, Quantity::Number(c)) | (Quantity::Number(c), a) if kind_of(a).is_some() => {
                let k = kind_of(a).expect("a result");
                let op = if matches!(lhs, Quantity::Number(_)) {
                    op.flipped()
                } else {
                    op
                };
                let Some(outcome) = decided(k.low, k.high, op, *c) else {
                    return true;
                };
                let range = if k.high.is_finite() {
                    format!("between {} and {}", k.low, k.high)
                } else {
                    format!("at least {}", k.low)
                };
                let holds = if outcome {
                    "always holds"
                } else {
                    "can never hold"
                };
                let help = if *c > 1.0 && *c <= 100.0 && k.high <= 1.0 {
                    format!("shares are written 0.9 or 90%: write {}%", c)
                } else {
                    format!("{} is {range}", k.what)
                };
                bad(
                    self,
                    format!("this comparison {holds}: {} is {range}", k.what),
                    &help,
                )
            }
            _ => true,
        }
    }
}

impl Checker<'_> {
    /// The splits whose images a probe's or experiment's results come from.
    pub(super) fn result_splits(&self, target: &str) -> Vec<String> {
        use crate::study::ProbeKind;
        let experiment_splits = |name: &str| -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for p in self
                .study
                .experiments
                .get(name)
                .map_or(&[][..], |e| &e.points)
            {
                if !out.contains(&p.split) {
                    out.push(p.split.clone());
                }
            }
            out
        };
        if self.study.experiments.contains_key(target) {
            return experiment_splits(target);
        }
        match self.study.probes.get(target).map(|p| &p.kind) {
            Some(ProbeKind::Predict { setup, .. } | ProbeKind::Occlusion { setup, .. }) => {
                vec![setup.split.clone()]
            }
            Some(
                ProbeKind::MetadataBaseline { split, .. } | ProbeKind::Association { split, .. },
            ) => {
                vec![split.clone()]
            }
            Some(
                ProbeKind::Gap { experiment, .. }
                | ProbeKind::Finetune { experiment, .. }
                | ProbeKind::Saliency { experiment, .. },
            ) => experiment_splits(experiment),
            None => Vec::new(),
        }
    }

    /// The sources whose images are in `partition` of `split` (any partition when `None`); `None` when the
    /// dataset's sources are only known once its files are read.
    pub(super) fn partition_sources(
        &self,
        split: &str,
        partition: Option<&str>,
    ) -> Option<Vec<String>> {
        use crate::study::SplitMethod;
        let split = self.study.splits.get(split)?;
        if let Some(sources) = partition.and_then(|p| split.tests.get(p)) {
            return Some(sources.clone());
        }
        match (&split.method, partition) {
            (SplitMethod::BySource { unseen, .. }, Some("unseen")) => Some(unseen.clone()),
            (SplitMethod::BySource { seen, .. }, Some(_)) => Some(seen.clone()),
            (SplitMethod::LeaveOneSourceOut { sources }, _) => Some(sources.clone()),
            _ => self.study.datasets.get(&split.data)?.sources.clone(),
        }
    }

    /// E0027 when a rule names a source the result has no value for: one no dataset has, or one outside
    /// the partition it reads (a seen source asked of `unseen`).
    pub(super) fn result_source(
        &mut self,
        source: &str,
        at: Span,
        splits: &[String],
        partition: Option<&str>,
    ) -> bool {
        let mut allowed: Vec<String> = Vec::new();
        for split in splits {
            let Some(sources) = self.partition_sources(split, partition) else {
                return true;
            };
            for s in sources {
                if !allowed.contains(&s) {
                    allowed.push(s);
                }
            }
        }
        if splits.is_empty() || allowed.iter().any(|s| s == source) {
            return true;
        }
        let place = partition.map_or("these results".to_string(), |p| format!("`{p}`"));
        let help = if allowed.len() <= 10 {
            let named: Vec<String> = allowed.iter().map(|s| format!("`{s}`")).collect();
            format!("{place} holds: {}", named.join(", "))
        } else {
            let options: Vec<&str> = allowed.iter().map(String::as_str).collect();
            crate::diagnostics::did_you_mean(source, &options)
        };
        self.error(
            Diagnostic::new(
                Code::UnknownSource,
                format!("`{source}` is not a source of {place}"),
            )
            .at(at, "no value for this source")
            .help(help),
        );
        false
    }
}
