//! What a rule's number will look like before anything is trained: for a true value, how far the estimate
//! strays (its sampling standard deviation) and how far its bounds will sit from it (the half-widths the
//! tool's own interval gives at that value), from the counts alone.
//!
//! AUC: Hanley & McNeil's variance; the bounds DeLong's (taken as ±z·√V at the value) where they stay
//! inside (0, 1), Newcombe's score interval at the boundary, as `eval::metrics::auc_interval` does.
//! Proportions: binomial variance and Wilson's (or the exact) interval. A gap: both sides combined, the
//! bounds as the MOVER that `probe::gap` widens to. Over folds (different images each), the estimate is
//! their mean and each bound as wide as the widest fold's, as `eval::estimate::combine` forms it.

use crate::eval::mann_whitney::{hanley_mcneil_variance, newcombe_interval};
use crate::eval::metrics::{clopper_pearson_interval, wilson_interval};
use crate::eval::z_of;
use crate::study::ProportionInterval;

/// A number a rule reads, as the counts it will rest on determine it.
#[derive(Clone, Debug, PartialEq)]
pub enum Measure {
    /// An AUC with `(positives, negatives)` per fold.
    Auc {
        folds: Vec<(usize, usize)>,
        level: f64,
    },
    /// A proportion (sensitivity, specificity, accuracy) with its denominator per fold.
    Proportion {
        folds: Vec<usize>,
        level: f64,
        interval: ProportionInterval,
    },
    /// Seen − unseen of the same metric on two independent sets of images.
    Gap {
        seen: Box<Measure>,
        unseen: Box<Measure>,
    },
    /// A value the data decides before any training (Cramér's V of a partition).
    Known(f64),
}

/// The estimate at a true value: its spread, and the distance from it to each bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub sd: f64,
    pub below: f64,
    pub above: f64,
}

impl Measure {
    /// The values the measure can take.
    pub fn range(&self) -> (f64, f64) {
        match self {
            Measure::Gap { .. } => (-1.0, 1.0),
            Measure::Known(v) => (*v, *v),
            _ => (0.0, 1.0),
        }
    }

    /// The spread of the estimate and the half-widths of its bounds at the true value `theta`.
    pub fn at(&self, theta: f64) -> Spread {
        match self {
            Measure::Auc { folds, level } => {
                over_folds(folds.iter().map(|(m, n)| auc_at(theta, *m, *n, *level)))
            }
            Measure::Proportion {
                folds,
                level,
                interval,
            } => over_folds(
                folds
                    .iter()
                    .map(|n| proportion_at(theta, *n, *level, *interval)),
            ),
            Measure::Gap { seen, unseen } => {
                let (s, u) = gap_sides(theta);
                let (a, b) = (seen.at(s), unseen.at(u));
                Spread {
                    sd: a.sd.hypot(b.sd),
                    below: a.below.hypot(b.above),
                    above: a.above.hypot(b.below),
                }
            }
            Measure::Known(_) => Spread {
                sd: 0.0,
                below: 0.0,
                above: 0.0,
            },
        }
    }

    /// The same measure on `k` times the images (for what size would do).
    pub fn scaled(&self, k: f64) -> Measure {
        let times = |n: usize| (n as f64 * k).round() as usize;
        match self {
            Measure::Auc { folds, level } => Measure::Auc {
                folds: folds.iter().map(|(m, n)| (times(*m), times(*n))).collect(),
                level: *level,
            },
            Measure::Proportion {
                folds,
                level,
                interval,
            } => Measure::Proportion {
                folds: folds.iter().map(|n| times(*n)).collect(),
                level: *level,
                interval: *interval,
            },
            Measure::Gap { seen, unseen } => Measure::Gap {
                seen: Box::new(seen.scaled(k)),
                unseen: Box::new(unseen.scaled(k)),
            },
            Measure::Known(v) => Measure::Known(*v),
        }
    }
}

/// The two sides of a gap of true size `delta`: the worse side at chance (0.5) while it can be, the
/// better side `delta` above it (a shortcut of that size: a model at chance where the shortcut is gone).
pub fn gap_sides(delta: f64) -> (f64, f64) {
    let delta = delta.clamp(-1.0, 1.0);
    if delta >= 0.0 {
        let seen = (0.5 + delta).min(1.0);
        (seen, seen - delta)
    } else {
        let unseen = (0.5 - delta).min(1.0);
        (unseen + delta, unseen)
    }
}

/// Folds are scored on different images: the pooled estimate is their mean, each bound as far as the
/// widest fold's.
fn over_folds(per_fold: impl Iterator<Item = Spread>) -> Spread {
    let (mut var, mut k, mut below, mut above) = (0.0, 0.0, 0.0f64, 0.0f64);
    for s in per_fold {
        var += s.sd * s.sd;
        k += 1.0;
        below = below.max(s.below);
        above = above.max(s.above);
    }
    Spread {
        sd: if k > 0.0 { var.sqrt() / k } else { 0.0 },
        below,
        above,
    }
}

/// One AUC on `m` positives and `n` negatives at a true value.
fn auc_at(theta: f64, m: usize, n: usize, level: f64) -> Spread {
    if m == 0 || n == 0 {
        return Spread {
            sd: f64::INFINITY,
            below: f64::INFINITY,
            above: f64::INFINITY,
        };
    }
    let sd = hanley_mcneil_variance(theta, m as f64, n as f64)
        .max(0.0)
        .sqrt();
    let half = z_of(level) * sd;
    let (lower, upper) = if sd > 0.0 && theta - half > 0.0 && theta + half < 1.0 {
        (theta - half, theta + half)
    } else {
        newcombe_interval(theta, m, n, level)
    };
    Spread {
        sd,
        below: theta - lower,
        above: upper - theta,
    }
}

/// One proportion of `n` at a true value; the interval at the nearest whole count.
fn proportion_at(p: f64, n: usize, level: f64, interval: ProportionInterval) -> Spread {
    if n == 0 {
        return Spread {
            sd: f64::INFINITY,
            below: f64::INFINITY,
            above: f64::INFINITY,
        };
    }
    let k = (p * n as f64).round() as usize;
    let i = proportion_interval(k.min(n), n, level, interval);
    let at = k as f64 / n as f64;
    Spread {
        sd: (p * (1.0 - p) / n as f64).max(0.0).sqrt(),
        below: at - i.0,
        above: i.1 - at,
    }
}

fn proportion_interval(k: usize, n: usize, level: f64, method: ProportionInterval) -> (f64, f64) {
    let i = match method {
        ProportionInterval::Wilson => wilson_interval(k, n, level),
        ProportionInterval::Exact => clopper_pearson_interval(k, n, level),
    };
    i.map_or((0.0, 1.0), |i| (i.lower, i.upper))
}

/// The exact probability that a proportion's bound holds against `c`, over every count `0..=n` the
/// binomial(n, p) gives: `Σ P(X = k) · [bound(k) op c]`. `bound` picks the lower (`-1`), the value (`0`)
/// or the upper bound (`1`).
pub fn proportion_probability(
    p: f64,
    n: usize,
    level: f64,
    interval: ProportionInterval,
    bound: i8,
    holds: impl Fn(f64) -> bool,
) -> f64 {
    use statrs::distribution::{Binomial, Discrete};
    let Ok(b) = Binomial::new(p.clamp(0.0, 1.0), n as u64) else {
        return 0.0;
    };
    (0..=n)
        .filter(|k| {
            let (lo, hi) = proportion_interval(*k, n, level, interval);
            holds(match bound {
                -1 => lo,
                1 => hi,
                _ => *k as f64 / n as f64,
            })
        })
        .map(|k| b.pmf(k as u64))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auc_at_a_perfect_score_keeps_newcombes_width() {
        let s = auc_at(1.0, 3, 3, 0.95);
        assert_eq!(s.sd, 0.0);
        assert!((1.0 - s.below - 0.501018760701530).abs() < 1e-9);
    }

    #[test]
    fn the_sides_of_a_gap() {
        for (delta, seen, unseen) in [(0.3, 0.8, 0.5), (0.8, 1.0, 0.2), (-0.2, 0.5, 0.7)] {
            let (s, u) = gap_sides(delta);
            assert!(
                (s - seen).abs() < 1e-12 && (u - unseen).abs() < 1e-12,
                "{delta}: {s} {u}"
            );
        }
    }
}
