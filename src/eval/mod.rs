//! Evaluation: metrics with their uncertainty.

pub mod metrics;
