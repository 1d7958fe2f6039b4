//! Per-image predictions of one trained model: what evaluation cells write and every metric reads.

use serde::{Deserialize, Serialize};

/// One image's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The record id (image path relative to its dataset, or `source/index` for synthetic images).
    pub image: String,
    pub source: String,
    /// The image's true value of the cell's target (its label, source, or attribute).
    pub truth: String,
    pub partition: String,
    /// Class probabilities, in the order of `Predictions::classes`.
    pub probabilities: Vec<f32>,
}

/// Predictions of one model on every partition of its fold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// The train cell that produced the model.
    pub cell: String,
    pub fold: Option<String>,
    pub repeat: u32,
    pub classes: Vec<String>,
    pub rows: Vec<Prediction>,
    /// Images of the fold left out, with the reason (no mask, rejected by the crop, unknown class).
    pub excluded: Vec<(String, String)>,
    /// The split's named test sets (name → sources), which `rows` accepts in place of a partition; set by
    /// the reader from the study, not stored.
    #[serde(skip)]
    pub tests: indexmap::IndexMap<String, Vec<String>>,
}

impl Predictions {
    pub fn class_index(&self, class: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == class)
    }

    /// Rows of a partition, optionally of one source only.
    pub fn rows<'a>(
        &'a self,
        partition: &'a str,
        source: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Prediction> + 'a {
        let set = self.tests.get(partition);
        self.rows.iter().filter(move |r| {
            let member = match set {
                // A test set: held-out images of its sources.
                Some(sources) => crate::study::in_test_set(sources, &r.partition, &r.source),
                None => r.partition == partition,
            };
            member && source.is_none_or(|s| r.source == s)
        })
    }

    /// Scores for `positive` and whether each image is positive, over the given rows.
    pub fn binary<'a>(
        &self,
        rows: impl Iterator<Item = &'a Prediction>,
        positive: usize,
    ) -> (Vec<f64>, Vec<bool>) {
        let positive_name = &self.classes[positive];
        rows.map(|r| (r.probabilities[positive] as f64, &r.truth == positive_name))
            .unzip()
    }

    /// One CSV row per image: image, source, label, score (of the first class), partition, cell, and
    /// the probability of every class.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            "image".to_string(),
            "source".into(),
            "label".into(),
            "score".into(),
            "partition".into(),
            "fold".into(),
            "cell".into(),
        ];
        header.extend(self.classes.iter().map(|c| format!("p_{c}")));
        w.write_record(&header)?;
        for r in &self.rows {
            let mut row = vec![
                r.image.clone(),
                r.source.clone(),
                r.truth.clone(),
                format!("{}", r.probabilities.first().copied().unwrap_or(f32::NAN)),
                r.partition.clone(),
                self.fold.clone().unwrap_or_default(),
                self.cell.clone(),
            ];
            row.extend(r.probabilities.iter().map(|p| format!("{p}")));
            w.write_record(&row)?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
