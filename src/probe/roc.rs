//! ROC curves for reports: (false-positive rate, true-positive rate) at every distinct score.

use crate::eval::metrics::Scores;

/// The curve from (0, 0) to (1, 1), thinned to at most 200 points; `None` without both classes.
pub fn curve(s: &Scores) -> Option<Vec<(f64, f64)>> {
    if s.positives.is_empty() || s.negatives.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = s
        .positives
        .iter()
        .map(|x| (*x, true))
        .chain(s.negatives.iter().map(|x| (*x, false)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (p, n) = (s.positives.len() as f64, s.negatives.len() as f64);
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut points = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < all.len() {
        // Tied scores move the curve diagonally, as the AUC counts them half.
        let score = all[i].0;
        while i < all.len() && all[i].0 == score {
            if all[i].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        points.push((fp / n, tp / p));
    }
    if points.len() > 200 {
        let step = points.len() as f64 / 199.0;
        let last = *points.last().unwrap_or(&(1.0, 1.0));
        points = (0..199)
            .map(|k| points[(k as f64 * step) as usize])
            .chain([last])
            .collect();
    }
    Some(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_under_the_curve_is_the_auc() {
        let s = Scores::new(
            &[0.9, 0.8, 0.8, 0.3, 0.2, 0.8],
            &[true, true, false, true, false, false],
        );
        let c = curve(&s).expect("both classes");
        let area: f64 = c
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        let exact = crate::eval::metrics::auc(&s).get().expect("defined");
        assert!((area - exact).abs() < 1e-12, "{area} vs {exact}");
        assert_eq!(c.first(), Some(&(0.0, 0.0)));
        assert_eq!(c.last(), Some(&(1.0, 1.0)));
    }
}
