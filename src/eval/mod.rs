//! Evaluation: per-image predictions, metrics with their uncertainty, estimates over repeats.

pub mod estimate;
pub mod mann_whitney;
pub mod metrics;
pub mod predictions;

/// The standard normal quantile of a two-sided confidence level (1.960 at 0.95).
pub fn z_of(level: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf(0.5 + level / 2.0)
}
