//! The probability that each comparison of a rule holds, at a true value and over every true value, and
//! the smallest effect at which it holds with the target probability.
//!
//! A comparison of a bound with a number holds when the estimate lands on the right side of the number
//! moved by the bound's half-width at the true value: `P(θ̂ − below(θ) > c) = Φ((θ − below(θ) − c)/sd(θ))`
//! (Hanley–McNeil for an AUC, as pROC's `power.roc.test` and Obuchowski's planning formulas). A
//! proportion compared with a number is summed exactly over the binomial counts with the tool's own
//! interval. Two results compared with each other are taken as independent (different images). Parts of
//! `and` / `or` are taken as independent too; the repeats' spread between trainings is unknown before
//! training and left out, so every probability here is the most a study of these counts can reach.

use super::model::{Measure, gap_sides, proportion_probability};
use crate::study::{CompareOp, Condition, Quantity, ResultRef, Statistic};
use statrs::distribution::{ContinuousCDF, Normal};

/// A side of a comparison: a number, or a bound of a measured result.
#[derive(Clone, Debug)]
pub enum Side {
    Number(f64),
    Result {
        /// The reference without its statistic (`main.auc(unseen)`): what `--assume` names.
        key: String,
        measure: Measure,
        /// `-1` lower bound, `0` value, `1` upper bound.
        bound: i8,
    },
}

impl Side {
    fn random(&self) -> Option<(&Measure, i8)> {
        match self {
            Side::Result { measure, bound, .. } if !matches!(measure, Measure::Known(_)) => {
                Some((measure, *bound))
            }
            _ => None,
        }
    }

    /// The side's value (the bound's position) at a true value, and the spread of the estimate.
    fn at(&self, theta: f64) -> (f64, f64) {
        match self {
            Side::Number(c) => (*c, 0.0),
            Side::Result { measure, bound, .. } => {
                if let Measure::Known(v) = measure {
                    return (*v, 0.0);
                }
                let s = measure.at(theta);
                let offset = match bound {
                    -1 => -s.below,
                    1 => s.above,
                    _ => 0.0,
                };
                (theta + offset, s.sd)
            }
        }
    }
}

/// One comparison of a rule, ready to be evaluated at true values.
#[derive(Clone, Debug)]
pub struct Term {
    pub lhs: Side,
    pub op: CompareOp,
    pub rhs: Side,
}

/// The key `--assume` names a reference by: its text without the statistic, spaces removed.
pub fn key_of(r: &ResultRef) -> String {
    let text: String = r.text.chars().filter(|c| !c.is_whitespace()).collect();
    for suffix in [".lower", ".upper", ".value", ".se"] {
        if let Some(stripped) = text.strip_suffix(suffix) {
            return stripped.to_string();
        }
    }
    text
}

/// A side of a comparison, or why it has no analytic model.
pub fn side(
    q: &Quantity,
    measure: &dyn Fn(&ResultRef) -> Result<Measure, String>,
) -> Result<Side, String> {
    match q {
        Quantity::Number(x) => Ok(Side::Number(*x)),
        Quantity::Neg(inner) => match inner.as_ref() {
            Quantity::Number(x) => Ok(Side::Number(-x)),
            _ => Err("a negated result has no analytic model".into()),
        },
        Quantity::Result(r) => {
            let bound = match r.statistic {
                Statistic::Lower => -1,
                Statistic::Upper => 1,
                Statistic::Value => 0,
                Statistic::Se => {
                    return Err("a standard error over repeats depends on training".into());
                }
            };
            Ok(Side::Result {
                key: key_of(r),
                measure: measure(r)?,
                bound,
            })
        }
        Quantity::Arith { .. } => Err("arithmetic on results has no analytic model".into()),
    }
}

fn holds(op: CompareOp, d: f64) -> bool {
    match op {
        CompareOp::Gt => d > 0.0,
        CompareOp::Ge => d >= 0.0,
        CompareOp::Lt => d < 0.0,
        CompareOp::Le => d <= 0.0,
        CompareOp::Eq => d == 0.0,
        CompareOp::Ne => d != 0.0,
    }
}

impl Term {
    /// The results the comparison reads, with the measures they rest on.
    pub fn results(&self) -> Vec<(&str, &Measure)> {
        [&self.lhs, &self.rhs]
            .into_iter()
            .filter_map(|s| match s {
                Side::Result { key, measure, .. } => Some((key.as_str(), measure)),
                _ => None,
            })
            .collect()
    }

    /// The probability that the comparison holds when the left result's true value is `a` and the
    /// right's `b` (either ignored for a number).
    pub fn probability(&self, a: f64, b: f64) -> f64 {
        // A proportion against a number: exact, over the binomial counts.
        for (this, other, flip, theta) in [
            (&self.lhs, &self.rhs, false, a),
            (&self.rhs, &self.lhs, true, b),
        ] {
            if let (
                Side::Result {
                    measure:
                        Measure::Proportion {
                            folds,
                            level,
                            interval,
                        },
                    bound,
                    ..
                },
                Side::Number(c),
            ) = (this, other)
                && folds.len() == 1
            {
                let op = self.op;
                return proportion_probability(theta, folds[0], *level, *interval, *bound, |x| {
                    holds(op, if flip { c - x } else { x - c })
                });
            }
        }
        let ((l, sl), (r, sr)) = (self.lhs.at(a), self.rhs.at(b));
        let (d, sd) = (l - r, sl.hypot(sr));
        if !d.is_finite() || !sd.is_finite() {
            return 0.0;
        }
        if sd == 0.0 {
            return if holds(self.op, d) { 1.0 } else { 0.0 };
        }
        let up = Normal::standard().cdf(d / sd);
        match self.op {
            CompareOp::Gt | CompareOp::Ge => up,
            CompareOp::Lt | CompareOp::Le => 1.0 - up,
            CompareOp::Eq => 0.0,
            CompareOp::Ne => 1.0,
        }
    }

    /// The one free value of the comparison and the true values of both sides it stands for: a result
    /// against a number moves that result; two results move apart from chance, the one the comparison
    /// wants higher `x` above the other (`x` their difference).
    pub fn path(&self) -> Path {
        match (self.lhs.random(), self.rhs.random()) {
            (Some((m, _)), None) => Path::Left(m.range()),
            (None, Some((m, _))) => Path::Right(m.range()),
            (Some(_), Some(_)) => Path::Apart {
                left_higher: matches!(self.op, CompareOp::Gt | CompareOp::Ge),
            },
            (None, None) => Path::Fixed,
        }
    }

    /// The probability at a point `x` of the path.
    pub fn along(&self, x: f64) -> f64 {
        match self.path() {
            Path::Left(_) => self.probability(x, 0.0),
            Path::Right(_) => self.probability(0.0, x),
            Path::Apart { left_higher } => {
                let (hi, lo) = gap_sides(x);
                if left_higher {
                    self.probability(hi, lo)
                } else {
                    self.probability(lo, hi)
                }
            }
            Path::Fixed => self.probability(0.0, 0.0),
        }
    }

    /// Whether the probability grows along the path (a result wanted high).
    fn grows(&self) -> bool {
        match self.path() {
            Path::Left(_) => matches!(self.op, CompareOp::Gt | CompareOp::Ge),
            Path::Right(_) => matches!(self.op, CompareOp::Lt | CompareOp::Le),
            _ => true,
        }
    }
}

/// What a comparison's free value is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Path {
    /// The left result's true value, over its range.
    Left((f64, f64)),
    Right((f64, f64)),
    /// The difference between two results' true values (0 to 1).
    Apart {
        left_higher: bool,
    },
    /// Nothing moves: a number against a number, or values the data decides.
    Fixed,
}

impl Path {
    pub fn range(self) -> (f64, f64) {
        match self {
            Path::Left(r) | Path::Right(r) => r,
            Path::Apart { .. } => (0.0, 1.0),
            Path::Fixed => (0.0, 0.0),
        }
    }
}

/// The reach of one comparison over every true value.
#[derive(Clone, Debug, PartialEq)]
pub struct Reach {
    /// The highest and lowest probability that it holds, over the path.
    pub best: f64,
    pub worst: f64,
    /// The value nearest to no effect at which it holds with the target probability (`None`: never).
    pub detectable: Option<f64>,
}

const STEPS: usize = 400;

/// The best and worst probabilities over a coarse grid, each scanned from its own end of the path and
/// stopped once it is all but certain (what `study check` needs to tell an undecidable hypothesis, cheaply).
pub fn quick_reach(term: &Term) -> (f64, f64) {
    const COARSE: usize = 40;
    if term.path() == Path::Fixed {
        let p = term.along(0.0);
        return (p, p);
    }
    let (lo, hi) = term.path().range();
    let at = |k: usize| lo + (hi - lo) * k as f64 / COARSE as f64;
    let favourable: Vec<usize> = if term.grows() {
        (0..=COARSE).rev().collect()
    } else {
        (0..=COARSE).collect()
    };
    let mut best: f64 = 0.0;
    for k in &favourable {
        best = best.max(term.along(at(*k)));
        if best >= 1.0 - 1e-4 {
            break;
        }
    }
    let mut worst: f64 = 1.0;
    for k in favourable.iter().rev() {
        worst = worst.min(term.along(at(*k)));
        if worst <= 1e-4 {
            break;
        }
    }
    (best, worst)
}

/// How far a comparison can go: its best and worst probabilities, and the minimal detectable value.
pub fn reach(term: &Term, target: f64) -> Reach {
    let (lo, hi) = term.path().range();
    if term.path() == Path::Fixed {
        let p = term.along(0.0);
        return Reach {
            best: p,
            worst: p,
            detectable: None,
        };
    }
    let xs: Vec<f64> = (0..=STEPS)
        .map(|k| lo + (hi - lo) * k as f64 / STEPS as f64)
        .collect();
    let ps: Vec<f64> = xs.iter().map(|x| term.along(*x)).collect();
    let best = ps.iter().copied().fold(0.0, f64::max);
    let worst = ps.iter().copied().fold(1.0, f64::min);
    // Walk from no effect towards the largest: the first grid point that reaches the target, then the
    // crossing refined between it and the point before.
    let order: Vec<usize> = if term.grows() {
        (0..xs.len()).collect()
    } else {
        (0..xs.len()).rev().collect()
    };
    let detectable = order.windows(2).find_map(|w| {
        let (before, at) = (w[0], w[1]);
        if ps[before] >= target {
            return Some(xs[before]);
        }
        if ps[at] < target {
            return None;
        }
        let (mut a, mut b) = (xs[before], xs[at]);
        for _ in 0..60 {
            let mid = (a + b) / 2.0;
            if term.along(mid) >= target {
                b = mid
            } else {
                a = mid
            }
        }
        Some(b)
    });
    Reach {
        best,
        worst,
        detectable,
    }
}

/// A rule's probability from its comparisons' (`and` multiplies, `or` complements the product of
/// complements, `not` complements): at the most favourable and least favourable true values of each part.
pub fn combine(c: &Condition, term: &mut dyn FnMut(&Condition) -> (f64, f64)) -> (f64, f64) {
    match c {
        Condition::And(parts) => parts.iter().fold((1.0, 1.0), |(b, w), p| {
            let (pb, pw) = combine(p, term);
            (b * pb, w * pw)
        }),
        Condition::Or(parts) => {
            let (b, w) = parts.iter().fold((1.0, 1.0), |(b, w), p| {
                let (pb, pw) = combine(p, term);
                (b * (1.0 - pb), w * (1.0 - pw))
            });
            (1.0 - b, 1.0 - w)
        }
        Condition::Not(inner) => {
            let (b, w) = combine(inner, term);
            (1.0 - w, 1.0 - b)
        }
        Condition::Compare { .. } => term(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::ProportionInterval;

    fn auc_term(m: usize, n: usize, bound: i8, op: CompareOp, c: f64) -> Term {
        Term {
            lhs: Side::Result {
                key: "main.auc(unseen)".into(),
                measure: Measure::Auc {
                    folds: vec![(m, n)],
                    level: 0.95,
                },
                bound,
            },
            op,
            rhs: Side::Number(c),
        }
    }

    /// Hanley–McNeil at 26 positive and 18 negative images, solved at 30 digits with mpmath:
    /// P(lower > 0.6) at AUC 0.79 is 0.80402990220; it reaches 0.8 at 0.78931013696; P(upper < 0.7) at
    /// chance is 0.60807849903, and 0.8 at 0.44927964850 or less.
    #[test]
    fn hanley_mcneil_power_of_a_bound() {
        let lower = auc_term(26, 18, -1, CompareOp::Gt, 0.6);
        assert!((lower.along(0.79) - 0.804029902201466).abs() < 1e-9);
        let r = reach(&lower, 0.8);
        assert!(
            (r.detectable.unwrap() - 0.789310136957014).abs() < 1e-6,
            "{r:?}"
        );
        let upper = auc_term(26, 18, 1, CompareOp::Lt, 0.7);
        assert!((upper.along(0.5) - 0.608078499028186).abs() < 1e-9);
        let r = reach(&upper, 0.8);
        assert!(
            (r.detectable.unwrap() - 0.449279648496948).abs() < 1e-6,
            "{r:?}"
        );
    }

    #[test]
    fn a_perfect_score_on_three_images_a_side_never_clears_0_9() {
        let r = reach(&auc_term(3, 3, -1, CompareOp::Gt, 0.9), 0.8);
        assert_eq!(r.detectable, None);
        assert!(r.best < 0.8, "{r:?}");
        // With 30 a side a perfect score's lower bound is 0.94: it can.
        assert!(reach(&auc_term(30, 30, -1, CompareOp::Gt, 0.9), 0.8).best >= 0.8);
    }

    /// Exact binomial sums over statsmodels 0.15 `proportion_confint(k, n, alpha=0.05, method=...)`
    /// (scipy 1.17 `binom.pmf`): Wilson lower of n = 50 above 0.7 at p = 0.85: 0.6681007246892335;
    /// Wilson upper of n = 40 below 0.3 at p = 0.1: 0.9004835760344483; Clopper–Pearson ("beta") lower
    /// of n = 100 above 0.8 at p = 0.9: 0.7030331002887541.
    #[test]
    fn proportions_are_summed_exactly_over_the_binomial() {
        let term = |n: usize, interval, bound, op, c| Term {
            lhs: Side::Result {
                key: "main.sensitivity(unseen)".into(),
                measure: Measure::Proportion {
                    folds: vec![n],
                    level: 0.95,
                    interval,
                },
                bound,
            },
            op,
            rhs: Side::Number(c),
        };
        let wilson = ProportionInterval::Wilson;
        let cases = [
            (
                term(50, wilson, -1, CompareOp::Gt, 0.7),
                0.85,
                0.6681007246892335,
            ),
            (
                term(40, wilson, 1, CompareOp::Lt, 0.3),
                0.1,
                0.9004835760344483,
            ),
            (
                term(100, ProportionInterval::Exact, -1, CompareOp::Gt, 0.8),
                0.9,
                0.7030331002887541,
            ),
        ];
        for (t, p, expected) in cases {
            assert!(
                (t.along(p) - expected).abs() < 1e-9,
                "{} against {expected}",
                t.along(p)
            );
        }
    }
}
