//! Evaluation: per-image predictions, metrics with their uncertainty, estimates over repeats.

pub mod estimate;
pub mod mann_whitney;
pub mod metrics;
pub mod predictions;
