//! What aggregate and probe cells write: named estimates a rule can read, with details for the report.

use crate::eval::estimate::Estimate;
use crate::study::GridPoint;
use serde::{Deserialize, Serialize};

/// One number: `field(args)` of a grid point (experiments) or of the probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultEntry {
    pub field: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub point: Option<GridPoint>,
    pub estimate: Estimate,
}

/// All results of one experiment or probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The experiment's or probe's name.
    pub target: String,
    /// `experiment`, or the probe kind (`predict`, `gap`, ...).
    pub kind: String,
    /// Units combined (trained models × folds), when models are involved.
    pub units: usize,
    pub entries: Vec<ResultEntry>,
    /// Tables and curves for the report (layout per kind; see docs/results.md).
    pub details: serde_json::Value,
    /// Things a reader should know (a fallback threshold, images left out).
    pub notes: Vec<String>,
}

impl Results {
    pub fn new(target: &str, kind: &str) -> Self {
        Results {
            target: target.into(),
            kind: kind.into(),
            units: 0,
            entries: Vec::new(),
            details: serde_json::Value::Null,
            notes: Vec::new(),
        }
    }

    pub fn push(
        &mut self,
        field: &str,
        args: Vec<String>,
        point: Option<&GridPoint>,
        estimate: Estimate,
    ) {
        self.entries.push(ResultEntry {
            field: field.into(),
            args,
            point: point.cloned(),
            estimate,
        });
    }

    /// The estimate of `field(args)`; for experiments, of the grid point (the only one when `None`).
    pub fn find(
        &self,
        field: &str,
        args: &[String],
        point: Option<&GridPoint>,
    ) -> Option<&Estimate> {
        let first_point = self.entries.iter().find_map(|e| e.point.as_ref());
        let point = point.or(first_point);
        self.entries
            .iter()
            .find(|e| e.field == field && e.args == args && e.point.as_ref() == point)
            .map(|e| &e.estimate)
    }
}

/// A grid point as `crop=full, model=cnn` (only the axes that vary in its experiment).
pub fn point_label(point: &GridPoint, varying: &[String]) -> String {
    if varying.is_empty() {
        return String::new();
    }
    varying
        .iter()
        .filter_map(|a| point.axis(a).map(|v| format!("{a}={v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a segmenter cell writes beside `unet.bin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmenterResult {
    /// Dice and IoU on the held-out images (`None` for loaded weights).
    pub dice: Option<f64>,
    pub iou: Option<f64>,
    pub train_images: usize,
    pub holdout_images: usize,
    pub losses: Vec<f64>,
}
