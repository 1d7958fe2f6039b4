//! The synthetic twin of a study: the same plan (splits, models, trainings, probes, hypotheses) on
//! synthetic phantoms with the same images per source and label, under a scenario whose truth is known.
//! With the shortcut present, each source carries its own acquisition signature (a burned-in marker, its
//! own gamma and noise) and the disease signal is weak; with it absent, no source is marked and the disease
//! signal is clear. Run over many seeds, the verdicts' frequencies are the detection and false-alarm rates.

use crate::data::Table;
use crate::study::{
    Corner, Dataset, DatasetMasks, DatasetSource, Marker, MarkerGlyph, OnError, SplitMethod, Study,
    Synthetic, SyntheticSource,
};
use indexmap::IndexMap;
use serde::Serialize;

/// What the twin's data holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Each source marked by its own acquisition signature; disease signal weak (0.05).
    Shortcut,
    /// No source signature; disease signal present (0.5).
    None,
}

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Shortcut, Scenario::None];

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Shortcut => "shortcut",
            Scenario::None => "none",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Shortcut => {
                "shortcut present: each source has its own marker, gamma and noise; disease signal weak (0.05)"
            }
            Scenario::None => "shortcut absent: no source signature; disease signal present (0.5)",
        }
    }

    fn signal(self) -> f64 {
        match self {
            Scenario::Shortcut => 0.05,
            Scenario::None => 0.5,
        }
    }
}

/// Reductions the user asks for, stated in the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Reduced {
    /// Image side of the phantoms and of every preprocessing.
    pub size: Option<u32>,
    /// Epochs of every training.
    pub epochs: Option<u32>,
}

const CORNERS: [Corner; 4] = [
    Corner::TopLeft,
    Corner::TopRight,
    Corner::BottomLeft,
    Corner::BottomRight,
];

/// The twin of `study` under `scenario` with seed `seed`: every dataset a split reads replaced by phantoms
/// with the counts of `tables` (the datasets as read), named alike so that splits, test sets and rules
/// read the same sources.
pub fn twin(
    study: &Study,
    tables: &IndexMap<String, Table>,
    scenario: Scenario,
    seed: u64,
    reduced: Reduced,
) -> Result<Study, String> {
    let mut twin = study.clone();
    twin.seed = seed;
    for (name, split) in &study.splits {
        if let SplitMethod::Column { column, .. } = &split.method {
            return Err(format!(
                "split `{name}` reads partitions from the manifest column `{column}`, which phantoms lack"
            ));
        }
        let table = tables
            .get(&split.data)
            .ok_or_else(|| format!("the data of split `{name}` cannot be read"))?;
        let declared = study.datasets.get(&split.data);
        let classes = declared
            .and_then(|d| d.classes.clone())
            .unwrap_or_else(|| table.classes());
        let size = reduced.size.unwrap_or_else(|| resize_of(study));
        let mut sources = IndexMap::new();
        for (i, source) in table.sources().iter().enumerate() {
            sources.insert(
                source.clone(),
                phantom_source(table, source, &classes, i, scenario),
            );
        }
        let origin = declared
            .map(|d| d.origin.clone())
            .unwrap_or_else(|| split.origin.clone());
        twin.datasets.insert(
            split.data.clone(),
            Dataset {
                origin,
                source: DatasetSource::Synthetic(Synthetic {
                    size,
                    classes: classes.clone(),
                    signal: scenario.signal(),
                    sources,
                }),
                classes: Some(classes),
                sources: Some(table.sources()),
                masks: Some(DatasetMasks::Generated),
                on_error: OnError::Fail,
                max_pixels: None,
            },
        );
    }
    if let Some(size) = reduced.size {
        twin.preprocessings
            .values_mut()
            .for_each(|p| p.resize = size);
    }
    if let Some(epochs) = reduced.epochs {
        twin.trainings.values_mut().for_each(|t| t.epochs = epochs);
    }
    Ok(twin)
}

/// The phantoms' side when not reduced: the largest resize of the study (at least 32).
fn resize_of(study: &Study) -> u32 {
    study
        .preprocessings
        .values()
        .map(|p| p.resize)
        .max()
        .unwrap_or(64)
        .max(32)
}

/// One source of the twin: its images and label shares as read, its patients' ages and sexes where known,
/// and under the shortcut scenario a signature of its own.
fn phantom_source(
    table: &Table,
    source: &str,
    classes: &[String],
    index: usize,
    scenario: Scenario,
) -> SyntheticSource {
    let records: Vec<_> = table
        .records
        .iter()
        .filter(|r| r.source == source)
        .collect();
    let n = records.len().max(1) as f64;
    let mut labels = IndexMap::new();
    for c in classes {
        let share = records.iter().filter(|r| r.label == *c).count() as f64 / n;
        if share > 0.0 {
            labels.insert(c.clone(), share);
        }
    }
    let ages: Vec<f64> = records.iter().filter_map(|r| r.age).collect();
    let age = match (
        ages.iter().copied().reduce(f64::min),
        ages.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) if hi > lo => (lo, hi),
        _ => (20.0, 80.0),
    };
    let sexes: Vec<_> = records.iter().filter_map(|r| r.sex).collect();
    let male = if sexes.is_empty() {
        0.5
    } else {
        sexes
            .iter()
            .filter(|s| matches!(s, crate::data::metadata::Sex::Male))
            .count() as f64
            / sexes.len() as f64
    };
    let mut s = SyntheticSource {
        images: records.len() as u32,
        labels,
        age,
        male,
        ..SyntheticSource::default()
    };
    if scenario == Scenario::Shortcut {
        let letter = (b'A' + (index % 26) as u8) as char;
        s.marker = Some(Marker {
            glyph: MarkerGlyph::Text(letter.to_string()),
            corner: CORNERS[index % CORNERS.len()],
        });
        s.gamma = [0.7, 1.3, 0.85, 1.15, 0.6, 1.4][index % 6];
        s.noise = if index % 2 == 1 { 0.02 } else { 0.0 };
    }
    s
}
