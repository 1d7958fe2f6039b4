//! Hypotheses: decision rules over the results of probes and experiments, typed and resolved.

use super::Checker;
use super::values::{Allow, decl_owner};
use crate::diagnostics::did_you_mean;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl, DeclKind, Expr, RuleKind, SegmentArg, Unit};
use crate::syntax::format::reference_text;

/// A result field: its name, what its argument is, and whether it has a confidence interval.
struct FieldSpec {
    name: String,
    arg: ArgSpec,
    interval: bool,
}

enum ArgSpec {
    None,
    /// One of these values is required.
    OneOf(Vec<String>),
    /// An optional source name.
    OptionalSource,
    /// A partition (one of these), then an optional source when per-source metrics are computed.
    Partition {
        partitions: Vec<String>,
        per_source: bool,
    },
    /// One of `values`, then optionally a held-out partition, then an unseen source (`auc(crop, unseen)`).
    OneOfThenPartition {
        values: Vec<String>,
        partitions: Vec<String>,
    },
    /// Nothing (every held-out image), a held-out partition, or `unseen` and a source.
    OptionalPartition(Vec<String>),
}

impl Checker<'_> {
    pub(super) fn hypothesis(&mut self, decl: &Decl) -> Option<Hypothesis> {
        if let Some(v) = &decl.value {
            self.wrong_type(v, "a statement string and a block of rules", "a hypothesis");
        }
        let owner = decl_owner(decl);
        let e = self.entries(
            decl.block.as_ref(),
            &owner,
            &[],
            Allow {
                rules: true,
                ..Allow::default()
            },
            decl.span,
        );
        let Some(statement) = decl.doc.as_ref().map(|d| d.value.clone()) else {
            self.error(
                Diagnostic::new(Code::MissingEntry, "a hypothesis states what it claims")
                    .at(decl.name_span(), "statement missing")
                    .help("write `hypothesis h \"the classifier relies on the source\" { ... }`"),
            );
            return None;
        };
        if statement.trim().is_empty()
            && let Some(doc) = &decl.doc
        {
            self.suspicious(
                doc.span,
                "the hypothesis states nothing: the report shows its verdict without a claim",
                "say what it claims, for example \"the classifier relies on the source\"",
            );
        }
        if e.rules.is_empty() {
            self.error(
                Diagnostic::new(Code::BadRule, format!("{owner} has no decision rule"))
                    .at(decl.name_span(), "no rule")
                    .help("add `confirmed when ...` and/or `refuted when ...`"),
            );
            return None;
        }
        let mut h = Hypothesis {
            origin: self.origin(decl.name_span()),
            statement,
            confirmed: None,
            refuted: None,
        };
        let mut ok = true;
        let mut first: [Option<crate::source::Span>; 2] = [None, None];
        for rule in &e.rules {
            let slot = usize::from(rule.kind == RuleKind::Refuted);
            if let Some(previous) = first[slot] {
                self.error(
                    Diagnostic::new(Code::BadRule, "each kind of rule is given once")
                        .at(rule.span, "second rule of this kind")
                        .also(previous, "first here")
                        .help("combine the conditions with `and` / `or`"),
                );
                ok = false;
                continue;
            }
            first[slot] = Some(rule.span);
            match self.condition(&rule.expr) {
                Some(c) if slot == 0 => h.confirmed = Some(c),
                Some(c) => h.refuted = Some(c),
                None => ok = false,
            }
        }
        ok.then_some(h)
    }

    fn condition(&mut self, expr: &Expr) -> Option<Condition> {
        match expr {
            Expr::And(parts, _) | Expr::Or(parts, _) => {
                let mut out = Vec::new();
                let mut ok = true;
                for p in parts {
                    match self.condition(p) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(if matches!(expr, Expr::And(..)) {
                    Condition::And(out)
                } else {
                    Condition::Or(out)
                })
            }
            Expr::Not(inner, _) => Some(Condition::Not(Box::new(self.condition(inner)?))),
            Expr::Compare { lhs, op, rhs, span } => {
                let l = self.quantity(lhs);
                let r = self.quantity(rhs);
                let (lhs, rhs) = (l?, r?);
                let op = super::dataset::compare_op(*op);
                self.comparison_sense(&lhs, op, &rhs, *span)
                    .then_some(Condition::Compare { lhs, op, rhs })
            }
            Expr::In { span, .. } | Expr::Missing { span, .. } => {
                self.error(
                    Diagnostic::new(Code::WrongType, "decision rules compare numbers")
                        .at(*span, "`in` and `is missing` are for `keep` filters")
                        .help("compare results with numbers: probe.auc.lower > 0.9"),
                );
                None
            }
            other => {
                self.error(
                    Diagnostic::new(Code::BadRule, "a decision rule must be a condition")
                        .at(other.span(), "this is a value, not a condition")
                        .help("compare it: for example `source_probe.auc.lower > 0.9`"),
                );
                None
            }
        }
    }

    fn quantity(&mut self, expr: &Expr) -> Option<Quantity> {
        match expr {
            Expr::Number(n) => match n.unit {
                Unit::None => Some(Quantity::Number(n.value)),
                Unit::Percent => Some(Quantity::Number(n.value / 100.0)),
                Unit::Px => {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            "pixels have no meaning in a decision rule",
                        )
                        .at(n.span, "unit not allowed"),
                    );
                    None
                }
            },
            Expr::Neg(inner, _) => Some(Quantity::Neg(Box::new(self.quantity(inner)?))),
            Expr::Arith { first, rest, .. } => {
                let first = self.quantity(first);
                let rest: Option<Vec<_>> = rest
                    .iter()
                    .map(|(op, q)| {
                        let op = match op {
                            ast::ArithOp::Add => ArithOp::Add,
                            ast::ArithOp::Sub => ArithOp::Sub,
                            ast::ArithOp::Mul => ArithOp::Mul,
                            ast::ArithOp::Div => ArithOp::Div,
                        };
                        self.quantity(q).map(|q| (op, q))
                    })
                    .collect();
                Some(Quantity::Arith {
                    first: Box::new(first?),
                    rest: rest?,
                })
            }
            Expr::Ref(r) => self.result_ref(r).map(Quantity::Result),
            other => {
                let what = match other {
                    Expr::Str(_) => "text",
                    Expr::Bool(..) => "a boolean",
                    Expr::List(..) => "a list",
                    _ => "a condition",
                };
                self.error(
                    Diagnostic::new(Code::WrongType, format!("expected a number, found {what}"))
                        .at(other.span(), "not a number")
                        .help(
                            "rules compare results and numbers, for example `gap.gap.lower > 0.1`",
                        ),
                );
                None
            }
        }
    }

    /// `target[selection].field(args).statistic`
    fn result_ref(&mut self, r: &ast::Reference) -> Option<ResultRef> {
        let text = reference_text(r);
        let root = &r.segments[0];
        if let Some(args) = &root.args {
            let at = args.first().map_or(root.span, SegmentArg::span);
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    format!(
                        "`{}` is a probe or experiment, not a function",
                        root.name.name
                    ),
                )
                .at(at, "unexpected arguments"),
            );
            return None;
        }
        let kind = match self.symbols.get(&root.name.name).map(|s| s.kind) {
            Some(DeclKind::Experiment) => DeclKind::Experiment,
            Some(DeclKind::Probe) | None => DeclKind::Probe,
            Some(other) => {
                let symbol_span = self.symbol_span(&root.name.name);
                self.used.insert(root.name.name.clone());
                self.error(
                    Diagnostic::new(
                        Code::WrongKind,
                        format!(
                            "`{}` is a {}; rules read probes and experiments",
                            root.name.name,
                            other.keyword()
                        ),
                    )
                    .at(root.name.span, "expected a probe or experiment")
                    .also(
                        symbol_span,
                        format!("declared as a {} here", other.keyword()),
                    ),
                );
                return None;
            }
        };
        let target = self.reference(&root.name, kind)?;
        let (specs, point) = if kind == DeclKind::Experiment {
            let exp = self.study.experiments.get(&target)?.clone();
            let point = self.select_point(
                &target,
                &exp,
                &r.selector,
                r.selector_span.unwrap_or(root.span),
            )?;
            let specs = exp
                .measures
                .iter()
                .map(|m| FieldSpec {
                    name: m.name().into(),
                    arg: ArgSpec::Partition {
                        partitions: exp.evaluate.clone(),
                        per_source: exp.per_source,
                    },
                    interval: true,
                })
                .collect();
            (specs, point)
        } else {
            if let Some(span) = r.selector_span {
                self.error(
                    Diagnostic::new(
                        Code::UnknownField,
                        "only experiments have grid cells to select",
                    )
                    .at(span, "selection on a probe")
                    .help("remove the `[...]`"),
                );
                return None;
            }
            let probe = self.study.probes.get(&target)?.clone();
            let split = match &probe.kind {
                ProbeKind::Occlusion { setup, .. } => Some(&setup.split),
                ProbeKind::MetadataBaseline { split, .. } => Some(split),
                _ => None,
            };
            let held_out = split
                .and_then(|s| self.study.splits.get(s))
                .map(|s| s.partitions())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| p != "train" && p != "validation")
                .collect();
            (probe_fields(&probe.kind, held_out), None)
        };
        let Some(field_seg) = r.segments.get(1) else {
            self.error(
                Diagnostic::new(
                    Code::UnknownField,
                    format!(
                        "`{target}` is a {}; a rule reads one of its results",
                        kind.keyword()
                    ),
                )
                .at(r.span, "no result field")
                .help(format!("fields: {}", field_list(&specs))),
            );
            return None;
        };
        let Some(spec) = specs.iter().find(|s| s.name == field_seg.name.name) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let help = if kind == DeclKind::Experiment
                && crate::study::Metric::from_name(&field_seg.name.name).is_some()
            {
                format!(
                    "add {} to the experiment's `measure` list",
                    field_seg.name.name
                )
            } else {
                did_you_mean(&field_seg.name.name, &names)
            };
            self.error(
                Diagnostic::new(
                    Code::UnknownField,
                    format!("`{target}` has no result `{}`", field_seg.name.name),
                )
                .at(field_seg.name.span, "unknown field")
                .help(help),
            );
            return None;
        };
        let args = self.field_args(&target, spec, field_seg)?;
        let statistic = match r.segments.get(2) {
            None => Statistic::Value,
            Some(seg) => {
                let stat = match seg.name.name.as_str() {
                    "value" => Statistic::Value,
                    "lower" => Statistic::Lower,
                    "upper" => Statistic::Upper,
                    "se" => Statistic::Se,
                    other => {
                        self.error(
                            Diagnostic::new(
                                Code::UnknownField,
                                format!("`{other}` is not a statistic"),
                            )
                            .at(seg.name.span, "unknown statistic")
                            .help(did_you_mean(other, &["value", "lower", "upper", "se"])),
                        );
                        return None;
                    }
                };
                if seg.args.is_some() {
                    self.error(
                        Diagnostic::new(Code::WrongType, "statistics take no arguments")
                            .at(seg.span, "unexpected arguments"),
                    );
                    return None;
                }
                if !spec.interval && stat != Statistic::Value {
                    self.error(
                        Diagnostic::new(
                            Code::UnknownField,
                            format!("`{}` has no confidence interval", spec.name),
                        )
                        .at(seg.name.span, "no interval for this field")
                        .help(format!("compare the value itself: {target}.{}", spec.name)),
                    );
                    return None;
                }
                stat
            }
        };
        if let Some(extra) = r.segments.get(3) {
            self.error(
                Diagnostic::new(
                    Code::UnknownField,
                    "a result reference ends with its statistic",
                )
                .at(extra.span, "unexpected")
                .help("for example: probe.auc.lower"),
            );
            return None;
        }
        Some(ResultRef {
            target,
            point,
            field: spec.name.clone(),
            args,
            statistic,
            text,
        })
    }

    fn field_args(
        &mut self,
        target: &str,
        spec: &FieldSpec,
        seg: &ast::Segment,
    ) -> Option<Vec<String>> {
        let given: Vec<(String, crate::source::Span)> = seg
            .args
            .iter()
            .flatten()
            .map(|a| match a {
                SegmentArg::Number(n) => (n.text.clone(), n.span),
                SegmentArg::Str(s) => (s.value.clone(), s.span),
                SegmentArg::Ident(i) => (i.name.clone(), i.span),
            })
            .collect();
        let usage = |spec: &FieldSpec| match &spec.arg {
            ArgSpec::None => format!("{}.{}", target, spec.name),
            ArgSpec::OneOf(v) => format!(
                "{target}.{}({})",
                spec.name,
                v.first().map_or("...", String::as_str)
            ),
            ArgSpec::OptionalSource => format!(
                "{target}.{} or {target}.{}(\"source\")",
                spec.name, spec.name
            ),
            ArgSpec::Partition { partitions, .. } => format!(
                "{target}.{}({})",
                spec.name,
                partitions.first().map_or("test", String::as_str)
            ),
            ArgSpec::OneOfThenPartition { values, partitions } => format!(
                "{target}.{}({}) or {target}.{}({}, {})",
                spec.name,
                values.first().map_or("...", String::as_str),
                spec.name,
                values.first().map_or("...", String::as_str),
                partitions.first().map_or("unseen", String::as_str)
            ),
            ArgSpec::OptionalPartition(partitions) => format!(
                "{target}.{} or {target}.{}({})",
                spec.name,
                spec.name,
                partitions.first().map_or("unseen", String::as_str)
            ),
        };
        let bad = |this: &mut Self, at: crate::source::Span, message: String, help: String| {
            this.error(
                Diagnostic::new(Code::UnknownField, message)
                    .at(at, "wrong argument")
                    .help(help),
            );
        };
        match (&spec.arg, given.as_slice()) {
            (ArgSpec::None, []) => Some(vec![]),
            (ArgSpec::None, [(_, at), ..]) => {
                bad(
                    self,
                    *at,
                    format!("`{}` takes no argument", spec.name),
                    format!("write {}", usage(spec)),
                );
                None
            }
            (ArgSpec::OptionalSource, []) => Some(vec![]),
            (ArgSpec::OptionalSource, [(s, at)]) => {
                // A gap's per-source values are of its unseen sources.
                let against = match self.study.probes.get(target).map(|p| &p.kind) {
                    Some(ProbeKind::Gap { against, .. }) => against.clone(),
                    _ => None,
                };
                let partition = matches!(spec.name.as_str(), "gap" | "unseen")
                    .then(|| against.unwrap_or_else(|| "unseen".into()));
                let partition = partition.as_deref();
                let splits = self.result_splits(target);
                self.result_source(s, *at, &splits, partition)
                    .then(|| vec![s.clone()])
            }
            (ArgSpec::OneOf(values), [(v, at)]) => {
                if values.contains(v) {
                    Some(vec![v.clone()])
                } else {
                    let options: Vec<&str> = values.iter().map(String::as_str).collect();
                    bad(
                        self,
                        *at,
                        format!("`{}` has no entry `{v}`", spec.name),
                        did_you_mean(v, &options),
                    );
                    None
                }
            }
            (
                ArgSpec::Partition {
                    partitions,
                    per_source,
                },
                given @ [_, rest @ ..],
            ) if rest.len() <= 1 => self.partition_args(target, partitions, *per_source, given),
            (ArgSpec::OptionalPartition(_), []) => Some(vec![]),
            (ArgSpec::OptionalPartition(partitions), given) if given.len() <= 2 => {
                self.partition_args(target, partitions, true, given)
            }
            (ArgSpec::OneOfThenPartition { values, partitions }, [(v, at), rest @ ..])
                if rest.len() <= 2 =>
            {
                if !values.contains(v) {
                    let options: Vec<&str> = values.iter().map(String::as_str).collect();
                    bad(
                        self,
                        *at,
                        format!("`{}` has no entry `{v}`", spec.name),
                        did_you_mean(v, &options),
                    );
                    return None;
                }
                let mut out = vec![v.clone()];
                if !rest.is_empty() {
                    out.extend(self.partition_args(target, partitions, true, rest)?);
                }
                Some(out)
            }
            _ => {
                bad(
                    self,
                    seg.span,
                    format!("wrong arguments to `{}`", spec.name),
                    format!("write {}", usage(spec)),
                );
                None
            }
        }
    }
}

impl Checker<'_> {
    /// `partition` or `partition, source` of a rule: the partition must be one of `partitions`, and a
    /// source is allowed where per-source values are computed.
    fn partition_args(
        &mut self,
        target: &str,
        partitions: &[String],
        per_source: bool,
        given: &[(String, crate::source::Span)],
    ) -> Option<Vec<String>> {
        let (p, at) = given.first()?;
        if !partitions.contains(p) {
            let options: Vec<&str> = partitions.iter().map(String::as_str).collect();
            self.error(
                Diagnostic::new(
                    Code::UnknownPartition,
                    format!("`{target}` is not evaluated on `{p}`"),
                )
                .at(*at, "partition not evaluated")
                .help(did_you_mean(p, &options)),
            );
            return None;
        }
        let mut out = vec![p.clone()];
        if let Some((source, at)) = given.get(1) {
            if !per_source {
                self.error(
                    Diagnostic::new(
                        Code::UnknownField,
                        format!("`{target}` does not compute per-source metrics"),
                    )
                    .at(*at, "wrong argument")
                    .help("add `per_source` to the experiment"),
                );
                return None;
            }
            let splits = self.result_splits(target);
            if !self.result_source(source, *at, &splits, Some(p)) {
                return None;
            }
            out.push(source.clone());
        }
        Some(out)
    }
}

/// The fields a probe's results have. `held_out` lists the held-out partitions of the probe's split.
fn probe_fields(kind: &ProbeKind, held_out: Vec<String>) -> Vec<FieldSpec> {
    let plain = |name: &str, interval: bool| FieldSpec {
        name: name.into(),
        arg: ArgSpec::None,
        interval,
    };
    match kind {
        ProbeKind::Predict { .. } => vec![
            plain("auc", true),
            plain("accuracy", true),
            plain("baseline", false),
        ],
        ProbeKind::Occlusion { crops, .. } => vec![FieldSpec {
            name: "auc".into(),
            arg: ArgSpec::OneOfThenPartition {
                values: crops.clone(),
                partitions: held_out,
            },
            interval: true,
        }],
        ProbeKind::Gap { .. } => vec![
            FieldSpec {
                name: "gap".into(),
                arg: ArgSpec::OptionalSource,
                interval: true,
            },
            plain("seen", true),
            FieldSpec {
                name: "unseen".into(),
                arg: ArgSpec::OptionalSource,
                interval: true,
            },
        ],
        ProbeKind::Association { .. } => vec![
            plain("chi2", false),
            plain("p", false),
            plain("cramers_v", false),
        ],
        ProbeKind::MetadataBaseline { .. } => vec![FieldSpec {
            name: "auc".into(),
            arg: ArgSpec::OptionalPartition(held_out),
            interval: true,
        }],
        ProbeKind::Finetune { sizes, .. } => {
            vec![FieldSpec {
                name: "auc".into(),
                arg: ArgSpec::OneOf(sizes.iter().map(u32::to_string).collect()),
                interval: true,
            }]
        }
        ProbeKind::Saliency { .. } => vec![FieldSpec {
            name: "lung_share".into(),
            arg: ArgSpec::OptionalSource,
            interval: true,
        }],
    }
}

fn field_list(specs: &[FieldSpec]) -> String {
    specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
