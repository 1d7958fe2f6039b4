//! The AUC as a Mann–Whitney statistic at a true value: its variance for given class sizes (Hanley &
//! McNeil 1982), and the score interval built on that variance that stays honest at 0 and 1 (Newcombe
//! 2006, "Confidence intervals for an effect size measure based on the Mann–Whitney statistic. Part 2",
//! method 5). DeLong's variance, read off the scores, is zero at a perfect score; these need only the counts.

/// Hanley & McNeil's variance of the empirical AUC at a true AUC `theta` with `m` positives and `n`
/// negatives, with `Q1 = θ/(2−θ)` and `Q2 = 2θ²/(1+θ)`:
/// `[θ(1−θ) + (m−1)(Q1−θ²) + (n−1)(Q2−θ²)] / (m·n)`.
pub fn hanley_mcneil_variance(theta: f64, m: f64, n: f64) -> f64 {
    variance(theta, m - 1.0, n - 1.0, m, n)
}

/// `θ(1−θ)·[1 + m*·(1−θ)/(2−θ) + n*·θ/(1+θ)] / (m·n)`: Hanley & McNeil's variance with `m − 1` and
/// `n − 1` replaced by `m*` and `n*` (Newcombe's methods 4 and 5 take both as `(m + n)/2 − 1`).
fn variance(theta: f64, m_star: f64, n_star: f64, m: f64, n: f64) -> f64 {
    let theta = theta.clamp(0.0, 1.0);
    theta
        * (1.0 - theta)
        * (1.0 + m_star * (1.0 - theta) / (2.0 - theta) + n_star * theta / (1.0 + theta))
        / (m * n)
}

/// Newcombe's method 5: the values of θ at which the observed `theta_hat` lies exactly `z` standard
/// errors away, the standard error taken at θ itself with `m* = n* = (m + n)/2 − 1`. Inside [0, 1]; a
/// perfect score keeps a lower bound set by the sample size (0.501 with 3 images a side, 0.800 with 10).
pub fn newcombe_interval(theta_hat: f64, m: usize, n: usize, level: f64) -> (f64, f64) {
    let z = super::z_of(level);
    let (mf, nf) = (m as f64, n as f64);
    let star = (mf + nf) / 2.0 - 1.0;
    let se = |theta: f64| variance(theta, star, star, mf, nf).max(0.0).sqrt();
    let theta_hat = theta_hat.clamp(0.0, 1.0);
    // Each bound is the crossing of a function that is positive at one end of its bracket and not
    // positive at the other; bisection keeps that invariant (the far end may be a root itself, as θ = 1
    // is when θ̂ = 1, and is never returned unless the crossing is there).
    let lower = if theta_hat == 0.0 {
        0.0
    } else {
        bisect(0.0, theta_hat, |t| theta_hat - t - z * se(t) > 0.0)
    };
    let upper = if theta_hat == 1.0 {
        1.0
    } else {
        1.0 - bisect(0.0, 1.0 - theta_hat, |u| {
            let t = 1.0 - u;
            t - theta_hat - z * se(t) > 0.0
        })
    };
    (lower, upper)
}

/// The point in `[a, b]` where `above` turns from true (at `a`) to false (at `b`), to the last bit.
fn bisect(mut a: f64, mut b: f64, above: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..200 {
        let mid = a + (b - a) / 2.0;
        if mid <= a || mid >= b {
            break;
        }
        if above(mid) { a = mid } else { b = mid }
    }
    a + (b - a) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newcombe (2006, Part 2) method 5 at 95 %, solved independently at 60 significant digits and rounded to 15 (mpmath's
    /// bracketing root finder on `θ̂ − θ ∓ z·√V(θ)`, `V` as above with `m* = n* = N/2 − 1`).
    const METHOD_5: [(f64, usize, usize, f64, f64); 8] = [
        (1.0, 3, 3, 0.501018760701530, 1.0),
        (1.0, 10, 10, 0.800213612881106, 1.0),
        (1.0, 11, 66, 0.894525797111491, 1.0),
        (1.0, 26, 18, 0.904929609371591, 1.0),
        (1.0, 100, 100, 0.980448940792029, 1.0),
        (0.0, 20, 30, 0.0, 0.0840610720652785),
        (0.925, 8, 5, 0.597848644956025, 0.988730824454344),
        (0.5, 10, 10, 0.273515588189894, 0.726484411810106),
    ];

    #[test]
    fn newcombe_method_5_matches_high_precision_roots() {
        for (theta, m, n, lower, upper) in METHOD_5 {
            let (lo, hi) = newcombe_interval(theta, m, n, 0.95);
            assert!(
                (lo - lower).abs() < 1e-9,
                "{theta} {m} {n}: lower {lo} against {lower}"
            );
            assert!(
                (hi - upper).abs() < 1e-9,
                "{theta} {m} {n}: upper {hi} against {upper}"
            );
        }
    }

    #[test]
    fn hanley_mcneil_at_chance_and_at_a_perfect_score() {
        // At θ = 0.5: Q1 = 1/3, Q2 = 1/3, so V = [1/4 + (m+n−2)/12] / (m·n); at θ = 1 it vanishes.
        let v = hanley_mcneil_variance(0.5, 26.0, 18.0);
        assert!((v - (0.25 + 42.0 / 12.0) / (26.0 * 18.0)).abs() < 1e-15);
        assert_eq!(hanley_mcneil_variance(1.0, 26.0, 18.0), 0.0);
    }
}
