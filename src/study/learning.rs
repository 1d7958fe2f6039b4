//! Models, training recipes and the metrics they are measured by.

use super::Origin;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub origin: Origin,
    pub architecture: Architecture,
    /// Input side in pixels if fixed by the model (else the preprocessing's `resize`).
    pub input: Option<u32>,
    pub weights: Option<String>,
    pub freeze: Freeze,
    /// Hidden widths of the classification head (dense → ReLU → batch-norm each), before the output.
    pub head: Vec<u32>,
    pub dropout: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Architecture {
    Cnn { channels: Vec<u32>, kernel: u32 },
    Resnet { depth: u32 },
    Densenet { depth: u32 },
    Vgg { depth: u32 },
}

impl Architecture {
    /// The smallest input side whose feature map survives every downsampling stage.
    pub fn min_input(&self) -> u32 {
        match self {
            Architecture::Cnn { channels, .. } => 1u32 << channels.len().min(31),
            Architecture::Resnet { .. }
            | Architecture::Densenet { .. }
            | Architecture::Vgg { .. } => 32,
        }
    }

    pub fn short_name(&self) -> String {
        match self {
            Architecture::Cnn { channels, .. } => format!("cnn{}", channels.len()),
            Architecture::Resnet { depth } => format!("resnet{depth}"),
            Architecture::Densenet { depth } => format!("densenet{depth}"),
            Architecture::Vgg { depth } => format!("vgg{depth}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Freeze {
    None,
    AllButHead,
    AllButBatchnorm,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub origin: Origin,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub epochs: u32,
    pub batch: u32,
    pub early_stop: Option<EarlyStop>,
    pub class_weights: ClassWeights,
    pub select: Selection,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd {
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
    },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
    },
    Adamw {
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    /// Learning rate multiplied by `factor` every `every` epochs.
    Step {
        every: u32,
        factor: f64,
    },
    /// Cosine annealing from the peak to `min_lr` over all epochs.
    Cosine {
        min_lr: f64,
    },
    /// Cosine annealing restarted every `cycle` epochs (each cycle `mult` times longer than the last);
    /// with `snapshots`, the model at the end of each cycle joins an ensemble.
    CosineRestarts {
        cycle: u32,
        mult: u32,
        min_lr: f64,
        snapshots: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub metric: Metric,
    pub patience: u32,
    pub min_delta: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeights {
    None,
    Balanced,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The weights after the last epoch.
    Last,
    /// The epoch with the best value of `metric` on the validation partition.
    Best { metric: Metric },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Auc,
    Accuracy,
    Sensitivity,
    Specificity,
    F1,
    BalancedAccuracy,
    Loss,
}

impl Metric {
    pub const MEASURABLE: [Metric; 6] = [
        Metric::Auc,
        Metric::Accuracy,
        Metric::Sensitivity,
        Metric::Specificity,
        Metric::F1,
        Metric::BalancedAccuracy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Auc => "auc",
            Metric::Accuracy => "accuracy",
            Metric::Sensitivity => "sensitivity",
            Metric::Specificity => "specificity",
            Metric::F1 => "f1",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::Loss => "loss",
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        [Metric::Loss]
            .into_iter()
            .chain(Metric::MEASURABLE)
            .find(|m| m.name() == name)
    }
}
