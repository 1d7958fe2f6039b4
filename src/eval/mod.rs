//! Evaluation: per-image predictions, metrics with their uncertainty, estimates over repeats.

pub mod estimate;
pub mod metrics;
pub mod predictions;
