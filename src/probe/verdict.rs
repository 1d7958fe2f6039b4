//! Hypothesis verdicts: each rule is evaluated on the results it reads (confidence bounds included);
//! *confirmed* when the confirming rule holds and the refuting one does not, *refuted* the other way
//! round, *inconclusive* otherwise. A number that is missing or undefined makes its comparison unknown,
//! which never decides a verdict.

use super::Results;
use crate::study::{ArithOp, CompareOp, Condition, Hypothesis, Quantity, ResultRef, Statistic};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Confirmed,
    Refuted,
    Inconclusive,
}

/// One number a rule read, as written and as found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    pub text: String,
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub undefined: Option<String>,
    /// Where the number comes from, for reports that say it in words (absent in older results).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<ResultRef>,
    /// The comparison with a constant it was read in (`lower > 0.9`), when it was.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compared: Option<Comparison>,
}

/// A number compared with a constant: `op` as written (`>`, `<=`, ...), the constant, and the outcome
/// (`None` when the number is missing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub op: String,
    pub bound: f64,
    pub holds: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckedRule {
    pub text: String,
    /// `None` when some number it needs is missing or undefined.
    pub holds: Option<bool>,
    pub terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub hypothesis: String,
    pub statement: String,
    pub outcome: Decision,
    /// Why, in one sentence.
    pub reason: String,
    pub confirmed: Option<CheckedRule>,
    pub refuted: Option<CheckedRule>,
}

/// Reads results by target name; `None` when that cell has no results (failed or not run).
pub trait Lookup {
    fn results(&self, target: &str) -> Option<Results>;
}

/// The verdict of a hypothesis on the results `lookup` gives.
pub fn evaluate(name: &str, h: &Hypothesis, lookup: &dyn Lookup) -> Verdict {
    let rule = |c: &Option<Condition>| {
        c.as_ref().map(|c| {
            let mut terms = Vec::new();
            let holds = condition(c, lookup, &mut terms);
            CheckedRule {
                text: c.render(),
                holds,
                terms,
            }
        })
    };
    let (confirmed, refuted) = (rule(&h.confirmed), rule(&h.refuted));
    let c = confirmed.as_ref().and_then(|r| r.holds);
    let r = refuted.as_ref().and_then(|r| r.holds);
    let missing = |rule: &Option<CheckedRule>| -> Vec<String> {
        rule.iter()
            .flat_map(|r| r.terms.iter())
            .filter(|t| t.value.is_none())
            .map(|t| format!("{} ({})", t.text, t.undefined.clone().unwrap_or_default()))
            .collect()
    };
    let (outcome, reason) = match (c, r) {
        (Some(true), Some(true)) => (
            Decision::Inconclusive,
            "both the confirming and the refuting rule hold".to_string(),
        ),
        (Some(true), _) => (Decision::Confirmed, "the confirming rule holds".to_string()),
        (_, Some(true)) => (Decision::Refuted, "the refuting rule holds".to_string()),
        _ => {
            let unknown: Vec<String> = missing(&confirmed)
                .into_iter()
                .chain(missing(&refuted))
                .collect();
            if unknown.is_empty() {
                (Decision::Inconclusive, "neither rule holds".to_string())
            } else {
                (
                    Decision::Inconclusive,
                    format!("neither rule holds; undecided: {}", unknown.join("; ")),
                )
            }
        }
    };
    Verdict {
        hypothesis: name.to_string(),
        statement: h.statement.clone(),
        outcome,
        reason,
        confirmed,
        refuted,
    }
}

/// Three-valued: `None` when a number is missing and the other operands do not decide.
fn condition(c: &Condition, lookup: &dyn Lookup, terms: &mut Vec<Term>) -> Option<bool> {
    match c {
        Condition::And(cs) => {
            let values: Vec<Option<bool>> =
                cs.iter().map(|c| condition(c, lookup, terms)).collect();
            if values.contains(&Some(false)) {
                Some(false)
            } else if values.iter().all(|v| *v == Some(true)) {
                Some(true)
            } else {
                None
            }
        }
        Condition::Or(cs) => {
            let values: Vec<Option<bool>> =
                cs.iter().map(|c| condition(c, lookup, terms)).collect();
            if values.contains(&Some(true)) {
                Some(true)
            } else if values.iter().all(|v| *v == Some(false)) {
                Some(false)
            } else {
                None
            }
        }
        Condition::Not(c) => condition(c, lookup, terms).map(|b| !b),
        Condition::Compare { lhs, op, rhs } => {
            let first = terms.len();
            let a = quantity(lhs, lookup, terms);
            let b = quantity(rhs, lookup, terms);
            let holds = a.zip(b).map(|(a, b)| compare(a, *op, b));
            // A single number against a constant: the term records the comparison, constant on the right.
            let against_constant = match (lhs, rhs) {
                (Quantity::Result(_), Quantity::Number(x)) => Some((*op, *x)),
                (Quantity::Number(x), Quantity::Result(_)) => Some((op.flipped(), *x)),
                _ => None,
            };
            if let (Some((op, bound)), Some(term)) = (against_constant, terms.get_mut(first)) {
                term.compared = Some(Comparison {
                    op: op.symbol().to_string(),
                    bound,
                    holds,
                });
            }
            holds
        }
    }
}

fn compare(a: f64, op: CompareOp, b: f64) -> bool {
    match op {
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
    }
}

fn quantity(q: &Quantity, lookup: &dyn Lookup, terms: &mut Vec<Term>) -> Option<f64> {
    match q {
        Quantity::Number(x) => Some(*x),
        Quantity::Neg(q) => quantity(q, lookup, terms).map(|x| -x),
        Quantity::Arith { first, rest } => {
            let mut acc = quantity(first, lookup, terms);
            for (op, q) in rest {
                let b = quantity(q, lookup, terms);
                acc = match (acc, b) {
                    (Some(a), Some(b)) => match op {
                        ArithOp::Add => Some(a + b),
                        ArithOp::Sub => Some(a - b),
                        ArithOp::Mul => Some(a * b),
                        ArithOp::Div if b != 0.0 => Some(a / b),
                        ArithOp::Div => None,
                    },
                    _ => None,
                };
            }
            acc
        }
        Quantity::Result(r) => {
            let (value, undefined) = match read(r, lookup) {
                Ok(v) => (Some(v), None),
                Err(why) => (None, Some(why.to_string())),
            };
            terms.push(Term {
                text: r.text.clone(),
                value,
                undefined,
                source: Some(r.clone()),
                compared: None,
            });
            value
        }
    }
}

/// Why a rule could not read a number.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
enum Unread {
    #[error("`{0}` has no results (its cell failed or did not run)")]
    NoResults(String),
    #[error("not computed")]
    NotComputed,
    /// The number is undefined, for the reason its results give.
    #[error("{0}")]
    Undefined(String),
    #[error("a standard error needs at least two repeats")]
    NoRepeats,
    #[error("no interval for this number")]
    NoInterval,
}

fn read(r: &ResultRef, lookup: &dyn Lookup) -> Result<f64, Unread> {
    let results = lookup
        .results(&r.target)
        .ok_or_else(|| Unread::NoResults(r.target.clone()))?;
    let e = results
        .find(&r.field, &r.args, r.point.as_ref())
        .ok_or(Unread::NotComputed)?;
    if let Some(why) = &e.undefined {
        return Err(Unread::Undefined(why.clone()));
    }
    let v = match r.statistic {
        Statistic::Value => e.value,
        Statistic::Lower => e.lower,
        Statistic::Upper => e.upper,
        Statistic::Se => e.se,
    };
    v.ok_or(match r.statistic {
        Statistic::Se => Unread::NoRepeats,
        _ => Unread::NoInterval,
    })
}
