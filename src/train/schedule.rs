//! Learning-rate schedules, per epoch (1-based).

use crate::study::{Optimizer, Schedule, Training};

pub fn peak_lr(t: &Training) -> f64 {
    match &t.optimizer {
        Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } | Optimizer::Adamw { lr, .. } => *lr,
    }
}

/// Position of an epoch in its warm-restart cycle: (epochs done in the cycle, cycle length, cycle end).
fn cycle_position(epoch: u32, cycle: u32, mult: u32) -> (u32, u32, bool) {
    let (mut start, mut len) = (0u32, cycle.max(1));
    while epoch > start + len {
        start += len;
        len = len.saturating_mul(mult.max(1));
    }
    let done = epoch - start - 1;
    (done, len, epoch == start + len)
}

pub fn learning_rate(t: &Training, epoch: u32) -> f64 {
    let lr = peak_lr(t);
    let cosine = |done: f64, total: f64, min: f64| {
        min + (lr - min) * (1.0 + (std::f64::consts::PI * done / total).cos()) / 2.0
    };
    match &t.schedule {
        Schedule::Constant => lr,
        Schedule::Step { every, factor } => lr * factor.powi(((epoch - 1) / every.max(&1)) as i32),
        Schedule::Cosine { min_lr } => cosine((epoch - 1) as f64, t.epochs as f64, *min_lr),
        Schedule::CosineRestarts {
            cycle,
            mult,
            min_lr,
            ..
        } => {
            let (done, len, _) = cycle_position(epoch, *cycle, *mult);
            cosine(done as f64, len as f64, *min_lr)
        }
    }
}

/// True when a snapshot ensemble takes the model after this epoch.
pub fn ends_snapshot_cycle(t: &Training, epoch: u32) -> bool {
    match &t.schedule {
        Schedule::CosineRestarts {
            cycle,
            mult,
            snapshots: true,
            ..
        } => cycle_position(epoch, *cycle, *mult).2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::{ClassWeights, Selection};

    fn training(schedule: Schedule, epochs: u32) -> Training {
        Training {
            origin: crate::study::Origin {
                location: String::new(),
                span: None,
            },
            optimizer: Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            },
            schedule,
            epochs,
            batch: 8,
            early_stop: None,
            class_weights: ClassWeights::None,
            select: Selection::Last,
        }
    }

    #[test]
    fn step_divides_every_n_epochs() {
        let t = training(
            Schedule::Step {
                every: 5,
                factor: 0.1,
            },
            30,
        );
        assert_eq!(learning_rate(&t, 1), 0.1);
        assert_eq!(learning_rate(&t, 5), 0.1);
        assert!((learning_rate(&t, 6) - 0.01).abs() < 1e-15);
        assert!((learning_rate(&t, 30) - 1e-6).abs() < 1e-18);
    }

    #[test]
    fn cosine_restarts_peak_at_each_cycle_start_and_snapshot_at_each_end() {
        let t = training(
            Schedule::CosineRestarts {
                cycle: 4,
                mult: 2,
                min_lr: 0.0,
                snapshots: true,
            },
            12,
        );
        let lrs: Vec<f64> = (1..=12).map(|e| learning_rate(&t, e)).collect();
        assert_eq!(lrs[0], 0.1);
        assert_eq!(lrs[4], 0.1, "restart after the first 4-epoch cycle");
        assert!(lrs[3] < lrs[2] && lrs[2] < lrs[1]);
        let ends: Vec<u32> = (1..=12).filter(|e| ends_snapshot_cycle(&t, *e)).collect();
        assert_eq!(ends, vec![4, 12]);
    }
}
