//! Binary classification metrics, exactly: AUC by Mann–Whitney with ties counted half, DeLong's
//! variance, confidence interval and paired test, stratified bootstrap intervals, and threshold
//! metrics. A metric that is undefined on the data says why instead of returning NaN.

use super::mann_whitney::newcombe_interval;
use super::z_of;
use crate::study::ProportionInterval;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// A metric's value, or the reason it has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricValue {
    Defined(f64),
    Undefined(String),
}

impl MetricValue {
    pub fn get(&self) -> Option<f64> {
        match self {
            MetricValue::Defined(x) => Some(*x),
            MetricValue::Undefined(_) => None,
        }
    }
}

/// Scores of the positive and of the negative images.
#[derive(Clone, Debug)]
pub struct Scores {
    pub positives: Vec<f64>,
    pub negatives: Vec<f64>,
}

impl Scores {
    /// Splits scores by label (`true` = positive).
    pub fn new(scores: &[f64], labels: &[bool]) -> Self {
        let mut s = Scores {
            positives: Vec::new(),
            negatives: Vec::new(),
        };
        for (x, y) in scores.iter().zip(labels) {
            if *y {
                s.positives.push(*x)
            } else {
                s.negatives.push(*x)
            }
        }
        s
    }

    fn undefined(&self) -> Option<Undefined> {
        match (self.positives.len(), self.negatives.len()) {
            (0, 0) => Some(Undefined::NoImages),
            (0, _) => Some(Undefined::OneClass("positive")),
            (_, 0) => Some(Undefined::OneClass("negative")),
            _ => None,
        }
    }
}

/// Mid-ranks (1-based; ties get the mean of their ranks).
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// The AUC: the probability that a random positive scores above a random negative, ties counting half.
pub fn auc(s: &Scores) -> MetricValue {
    if let Some(why) = s.undefined() {
        return MetricValue::Undefined(why.to_string());
    }
    let (m, n) = (s.positives.len() as f64, s.negatives.len() as f64);
    let all: Vec<f64> = s.positives.iter().chain(&s.negatives).copied().collect();
    let ranks = midranks(&all);
    let rank_sum: f64 = ranks[..s.positives.len()].iter().sum();
    MetricValue::Defined((rank_sum - m * (m + 1.0) / 2.0) / (m * n))
}

/// DeLong's structural components: per positive, the share of negatives it beats; per negative, the
/// share of positives that beat it (ties half). Their means are the AUC.
fn components(s: &Scores) -> (Vec<f64>, Vec<f64>) {
    let (m, n) = (s.positives.len(), s.negatives.len());
    let all: Vec<f64> = s.positives.iter().chain(&s.negatives).copied().collect();
    let combined = midranks(&all);
    let within_pos = midranks(&s.positives);
    let within_neg = midranks(&s.negatives);
    let v10 = (0..m)
        .map(|i| (combined[i] - within_pos[i]) / n as f64)
        .collect();
    let v01 = (0..n)
        .map(|j| 1.0 - (combined[m + j] - within_neg[j]) / m as f64)
        .collect();
    (v10, v01)
}

fn sample_covariance(a: &[f64], b: &[f64]) -> f64 {
    let k = a.len();
    if k < 2 {
        return 0.0;
    }
    let (ma, mb) = (
        a.iter().sum::<f64>() / k as f64,
        b.iter().sum::<f64>() / k as f64,
    );
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (k - 1) as f64
}

/// Why a statistic has no value on a set of scores.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Undefined {
    #[error("no images")]
    NoImages,
    /// Only one class is present; the other (`positive` or `negative`) has no image.
    #[error("no {0} images (one class present)")]
    OneClass(&'static str),
    #[error("the statistic is undefined on every resample")]
    EveryResample,
    #[error("the two models were not scored on the same images")]
    Unpaired,
}

/// AUC with DeLong's variance.
#[derive(Clone, Debug, PartialEq)]
pub struct DeLong {
    pub auc: f64,
    pub variance: f64,
}

pub fn delong(s: &Scores) -> Result<DeLong, Undefined> {
    if let Some(why) = s.undefined() {
        return Err(why);
    }
    let (v10, v01) = components(s);
    let auc = v10.iter().sum::<f64>() / v10.len() as f64;
    let variance = sample_covariance(&v10, &v10) / v10.len() as f64
        + sample_covariance(&v01, &v01) / v01.len() as f64;
    Ok(DeLong { auc, variance })
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

/// The DeLong confidence interval of the AUC at `level` (0.95 for 95 %), clipped to [0, 1].
pub fn delong_interval(s: &Scores, level: f64) -> Result<(f64, Interval), Undefined> {
    let d = delong(s)?;
    let half = z_of(level) * d.variance.sqrt();
    Ok((
        d.auc,
        Interval {
            lower: (d.auc - half).max(0.0),
            upper: (d.auc + half).min(1.0),
        },
    ))
}

/// The AUC's confidence interval at `level`: DeLong's where it is sound, and Newcombe's score interval
/// (method 5, [`newcombe_interval`]) at the boundary, where DeLong's would reach 0 or 1 — a perfect
/// score has DeLong variance zero and would get [1, 1] at any sample size.
pub fn auc_interval(s: &Scores, level: f64) -> Result<(f64, Interval), Undefined> {
    let d = delong(s)?;
    let half = z_of(level) * d.variance.sqrt();
    if d.variance > 0.0 && d.auc - half > 0.0 && d.auc + half < 1.0 {
        return Ok((
            d.auc,
            Interval {
                lower: d.auc - half,
                upper: d.auc + half,
            },
        ));
    }
    let (lower, upper) = newcombe_interval(d.auc, s.positives.len(), s.negatives.len(), level);
    Ok((d.auc, Interval { lower, upper }))
}

/// DeLong's test of two correlated AUCs (two models scored on the same images): the difference, its
/// standard error, z and the two-sided p-value.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedTest {
    pub difference: f64,
    pub se: f64,
    pub z: f64,
    pub p: f64,
}

pub fn delong_paired(a: &[f64], b: &[f64], labels: &[bool]) -> Result<PairedTest, Undefined> {
    if a.len() != b.len() || a.len() != labels.len() {
        return Err(Undefined::Unpaired);
    }
    let (sa, sb) = (Scores::new(a, labels), Scores::new(b, labels));
    if let Some(why) = sa.undefined() {
        return Err(why);
    }
    let ((a10, a01), (b10, b01)) = (components(&sa), components(&sb));
    let (m, n) = (a10.len() as f64, a01.len() as f64);
    let var = |x10: &[f64], y10: &[f64], x01: &[f64], y01: &[f64]| {
        sample_covariance(x10, y10) / m + sample_covariance(x01, y01) / n
    };
    let (auc_a, auc_b) = (a10.iter().sum::<f64>() / m, b10.iter().sum::<f64>() / m);
    let v = var(&a10, &a10, &a01, &a01) + var(&b10, &b10, &b01, &b01)
        - 2.0 * var(&a10, &b10, &a01, &b01);
    let difference = auc_a - auc_b;
    let se = v.max(0.0).sqrt();
    if se == 0.0 {
        let p = if difference == 0.0 { 1.0 } else { 0.0 };
        return Ok(PairedTest {
            difference,
            se,
            z: if difference == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(difference)
            },
            p,
        });
    }
    let z = difference / se;
    let p = 2.0 * (1.0 - Normal::standard().cdf(z.abs()));
    Ok(PairedTest {
        difference,
        se,
        z,
        p,
    })
}

/// Stratified bootstrap percentile interval of any statistic of scores: positives and negatives are
/// resampled separately (so every resample has both classes), `resamples` times, from `seed`.
pub fn bootstrap_interval(
    s: &Scores,
    level: f64,
    resamples: u32,
    seed: u64,
    statistic: impl Fn(&Scores) -> Option<f64>,
) -> Result<Interval, Undefined> {
    if let Some(why) = s.undefined() {
        return Err(why);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(resamples as usize);
    let mut resample = Scores {
        positives: vec![0.0; s.positives.len()],
        negatives: vec![0.0; s.negatives.len()],
    };
    for _ in 0..resamples {
        for x in resample.positives.iter_mut() {
            *x = s.positives[rng.random_range(0..s.positives.len())];
        }
        for x in resample.negatives.iter_mut() {
            *x = s.negatives[rng.random_range(0..s.negatives.len())];
        }
        if let Some(v) = statistic(&resample) {
            values.push(v);
        }
    }
    percentile_interval(values, level).ok_or(Undefined::EveryResample)
}

/// The central `level` percentile interval of resampled values (`None` when there are none).
pub fn percentile_interval(mut values: Vec<f64>, level: f64) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(Interval {
        lower: quantile(&values, alpha),
        upper: quantile(&values, 1.0 - alpha),
    })
}

/// Linear-interpolated quantile of sorted values (the default of NumPy).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Counts at a threshold: scores at or above it are called positive.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub tn: usize,
    pub fn_: usize,
}

pub fn confusion(s: &Scores, threshold: f64) -> Confusion {
    let tp = s.positives.iter().filter(|x| **x >= threshold).count();
    let fp = s.negatives.iter().filter(|x| **x >= threshold).count();
    Confusion {
        tp,
        fp,
        tn: s.negatives.len() - fp,
        fn_: s.positives.len() - tp,
    }
}

fn ratio(num: usize, den: usize, why: &str) -> MetricValue {
    if den == 0 {
        MetricValue::Undefined(why.into())
    } else {
        MetricValue::Defined(num as f64 / den as f64)
    }
}

impl Confusion {
    pub fn sensitivity(&self) -> MetricValue {
        ratio(self.tp, self.tp + self.fn_, "no positive images")
    }

    pub fn specificity(&self) -> MetricValue {
        ratio(self.tn, self.tn + self.fp, "no negative images")
    }

    pub fn accuracy(&self) -> MetricValue {
        ratio(
            self.tp + self.tn,
            self.tp + self.tn + self.fp + self.fn_,
            "no images",
        )
    }

    pub fn f1(&self) -> MetricValue {
        ratio(
            2 * self.tp,
            2 * self.tp + self.fp + self.fn_,
            "no positive images and none called positive",
        )
    }

    pub fn balanced_accuracy(&self) -> MetricValue {
        match (self.sensitivity(), self.specificity()) {
            (MetricValue::Defined(a), MetricValue::Defined(b)) => {
                MetricValue::Defined((a + b) / 2.0)
            }
            (MetricValue::Undefined(w), _) | (_, MetricValue::Undefined(w)) => {
                MetricValue::Undefined(w)
            }
        }
    }
}

/// The interval of `successes` out of `n` at `level` by `rule`; `None` when `n` is 0.
pub fn proportion_interval(
    rule: ProportionInterval,
    successes: usize,
    n: usize,
    level: f64,
) -> Option<Interval> {
    match rule {
        ProportionInterval::Wilson => wilson_interval(successes, n, level),
        ProportionInterval::Exact => clopper_pearson_interval(successes, n, level),
    }
}

/// Wilson's score interval of a proportion (Wilson 1927), as statsmodels' `proportion_confint(method =
/// "wilson")` forms it.
pub fn wilson_interval(successes: usize, n: usize, level: f64) -> Option<Interval> {
    if n == 0 || successes > n {
        return None;
    }
    let (x, n) = (successes as f64, n as f64);
    let z = z_of(level);
    let z2 = z * z;
    let center = (x + z2 / 2.0) / (n + z2);
    let half = z * (x * (n - x) / n + z2 / 4.0).sqrt() / (n + z2);
    Some(Interval {
        lower: (center - half).max(0.0),
        upper: (center + half).min(1.0),
    })
}

/// Clopper–Pearson's exact interval of a proportion: the quantiles of Beta(x, n − x + 1) and
/// Beta(x + 1, n − x), as R's `binom.test` gives it.
pub fn clopper_pearson_interval(successes: usize, n: usize, level: f64) -> Option<Interval> {
    if n == 0 || successes > n {
        return None;
    }
    let alpha = (1.0 - level) / 2.0;
    let (x, n) = (successes as f64, n as f64);
    let lower = if successes == 0 {
        0.0
    } else {
        beta_quantile(x, n - x + 1.0, alpha)
    };
    let upper = if successes as f64 == n {
        1.0
    } else {
        beta_quantile(x + 1.0, n - x, 1.0 - alpha)
    };
    Some(Interval { lower, upper })
}

/// The `q` quantile of Beta(a, b): statrs' inverse, refined by bisection on the regularised incomplete beta
/// function to full double precision.
fn beta_quantile(a: f64, b: f64, q: f64) -> f64 {
    use statrs::function::beta::{beta_reg, inv_beta_reg};
    let guess = inv_beta_reg(a, b, q);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if guess.is_finite() && (0.0..=1.0).contains(&guess) {
        // Bracket the root around the guess, widening until it holds.
        let mut step = 1e-6;
        loop {
            let (l, h) = ((guess - step).max(0.0), (guess + step).min(1.0));
            if beta_reg(a, b, l) <= q && beta_reg(a, b, h) >= q {
                (lo, hi) = (l, h);
                break;
            }
            if step >= 1.0 {
                break;
            }
            step *= 16.0;
        }
    }
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if beta_reg(a, b, mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The threshold maximising Youden's J = sensitivity + specificity − 1 over the observed scores; among
/// equal J the highest threshold (the most specific) wins.
pub fn youden_threshold(s: &Scores) -> Result<f64, Undefined> {
    if let Some(why) = s.undefined() {
        return Err(why);
    }
    let mut candidates: Vec<f64> = s.positives.iter().chain(&s.negatives).copied().collect();
    candidates.sort_by(|a, b| b.total_cmp(a));
    candidates.dedup();
    let mut best = (f64::NEG_INFINITY, candidates[0]);
    for t in candidates {
        let c = confusion(s, t);
        let j =
            c.tp as f64 / s.positives.len() as f64 + c.tn as f64 / s.negatives.len() as f64 - 1.0;
        if j > best.0 + 1e-12 {
            best = (j, t);
        }
    }
    Ok(best.1)
}

/// Macro-averaged one-vs-rest AUC of a multi-class problem: `scores[i][k]` is image i's score for class k.
pub fn macro_auc(scores: &[Vec<f64>], labels: &[usize], classes: usize) -> MetricValue {
    let mut aucs = Vec::new();
    for k in 0..classes {
        let column: Vec<f64> = scores.iter().map(|s| s[k]).collect();
        let is_k: Vec<bool> = labels.iter().map(|l| *l == k).collect();
        if let MetricValue::Defined(a) = auc(&Scores::new(&column, &is_k)) {
            aucs.push(a);
        }
    }
    if aucs.len() < 2 {
        return MetricValue::Undefined("fewer than two classes present".into());
    }
    MetricValue::Defined(aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// Mean and standard error over repeats.
pub fn mean_se(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let k = values.len() as f64;
    let mean = values.iter().sum::<f64>() / k;
    let se = if values.len() < 2 {
        0.0
    } else {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1.0)).sqrt() / k.sqrt()
    };
    Some((mean, se))
}
