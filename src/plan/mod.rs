//! Stage 3, plan: `Study` → `Plan`, the cells to run with their dependencies, seeds and content ids.
//!
//! Cells have stable readable names (`train/small/lungs/seen_unseen/std/quick/rep2`) and content ids
//! (a hash of everything the cell's output depends on: its own declarations, its seed and the ids of the
//! cells it reads). Identical work asked for by two experiments is one cell. Cells are listed in an order
//! in which every cell comes after the cells it depends on.

pub mod diff;
mod fingerprint;
mod summary;

use crate::hash::{canonical, hash_hex};
pub use fingerprint::fingerprint;
pub use summary::{status, summary};

use crate::study::*;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the plan's JSON layout.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    /// Hash of the study's meaning: unchanged by formatting, comments or moving declarations between files.
    pub fingerprint: String,
    pub study: Study,
    pub cells: Vec<Cell>,
    /// How the bound inputs were recognised (`exec::inputs::InputCheck`: hashed now, or known by the
    /// memo); part of no id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_check: Option<InputCheck>,
}

/// How the input files of a bound plan were recognised: read and hashed now, or known unchanged by the
/// memo from their length and modification time. A run's provenance records it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputCheck {
    pub hashed: usize,
    pub recognised: usize,
}

impl InputCheck {
    /// `42: 2 hashed now, 40 recognised by length and modification time (…)`, as the report says it.
    pub fn describe(&self) -> String {
        let total = self.hashed + self.recognised;
        if total == 0 {
            "0".to_string()
        } else if self.recognised == 0 {
            format!("{total}, every byte hashed by this run")
        } else {
            format!(
                "{total}: {} hashed now, {} recognised by length and modification time (`--locked` hashes every byte)",
                self.hashed, self.recognised
            )
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub name: String,
    /// Content id: changes exactly when something this cell's output depends on changes.
    pub id: String,
    pub seed: u64,
    /// Names of the cells this one reads.
    pub deps: Vec<String>,
    pub task: Task,
    /// Files the cell reads (path as shown to the user → BLAKE3 of the bytes, `unreadable` for one that
    /// cannot be read), filled in when the plan is bound to the files at hand; part of the content id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

impl Plan {
    /// The cell that writes the report.
    pub fn report_cell(&self) -> Option<&Cell> {
        self.cells.iter().find(|c| matches!(c.task, Task::Report))
    }

    /// This plan bound to the bytes of the files its cells read (cell name → path → hash): a cell that
    /// reads files, and every cell downstream of one, gets an id covering their hashes, so that a changed
    /// input re-runs exactly the cells that depend on it. Cells reading no file keep their ids.
    pub fn bind(&self, inputs: &IndexMap<String, BTreeMap<String, String>>) -> Plan {
        let mut bound = self.clone();
        let mut new_ids: std::collections::HashMap<String, String> = Default::default();
        for cell in &mut bound.cells {
            cell.inputs = inputs.get(&cell.name).cloned().unwrap_or_default();
            let dep_ids: Vec<&str> = cell
                .deps
                .iter()
                .filter_map(|d| new_ids.get(d).map(String::as_str))
                .collect();
            let deps_moved = cell.deps.iter().any(|d| new_ids.contains_key(d));
            if !cell.inputs.is_empty() || deps_moved {
                let id_input = serde_json::json!({
                    "planned": cell.id,
                    "inputs": cell.inputs,
                    "deps": dep_ids,
                });
                let id = hash_hex(&id_input)[..16].to_string();
                if id != cell.id {
                    cell.id = id.clone();
                    new_ids.insert(cell.name.clone(), id);
                }
            }
        }
        bound
    }

    /// The cells that do not follow from the plan's own study and inputs (a plan file edited by hand):
    /// each named, with the fingerprint first when the study's no longer matches.
    pub fn altered_cells(&self) -> Vec<String> {
        let inputs: IndexMap<String, BTreeMap<String, String>> = self
            .cells
            .iter()
            .filter(|c| !c.inputs.is_empty())
            .map(|c| (c.name.clone(), c.inputs.clone()))
            .collect();
        let fresh = plan(&self.study).bind(&inputs);
        let mut altered = Vec::new();
        if fresh.fingerprint != self.fingerprint {
            altered.push("the fingerprint".to_string());
        }
        let by_name: std::collections::HashMap<&str, &Cell> =
            fresh.cells.iter().map(|c| (c.name.as_str(), c)).collect();
        for cell in &self.cells {
            if by_name.get(cell.name.as_str()) != Some(&cell) {
                altered.push(cell.name.clone());
            }
        }
        if fresh.cells.len() != self.cells.len() && altered.is_empty() {
            altered.push("the list of cells".to_string());
        }
        altered
    }

    /// Every file the plan's cells read, with its hash (once bound).
    pub fn input_files(&self) -> BTreeMap<String, String> {
        self.cells
            .iter()
            .flat_map(|c| c.inputs.iter())
            .map(|(path, hash)| (path.clone(), hash.clone()))
            .collect()
    }
}

impl Cell {
    pub fn kind(&self) -> &'static str {
        self.task.kind()
    }
}

/// What a cell does. Names refer to declarations of `Plan::study`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Read, decode and cache a dataset's images and metadata.
    Prepare { dataset: String },
    /// Train (or load) a lung segmenter and report its Dice and IoU.
    Segmenter { segmenter: String },
    /// Assign every image of the split's dataset to a partition (for every fold).
    Split { split: String },
    /// Train one model for one target, fold and repeat.
    Train {
        setup: Setup,
        target: Target,
        fold: Option<String>,
        repeat: u32,
    },
    /// Predict every partition with a trained model and compute its metrics.
    Evaluate { train: String },
    /// Combine an experiment's evaluations over repeats and folds, with confidence intervals.
    Aggregate { experiment: String },
    /// Compute a probe's results.
    Probe { probe: String },
    /// Decide a hypothesis from the results its rules read.
    Verdict { hypothesis: String },
    /// Write the report.
    Report,
}

impl Task {
    /// Verdicts and the report run even when a cell they read failed: they show what is missing.
    pub fn tolerates_missing_inputs(&self) -> bool {
        matches!(self, Task::Verdict { .. } | Task::Report)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Task::Prepare { .. } => "prepare",
            Task::Segmenter { .. } => "segmenter",
            Task::Split { .. } => "split",
            Task::Train { .. } => "train",
            Task::Evaluate { .. } => "evaluate",
            Task::Aggregate { .. } => "aggregate",
            Task::Probe { .. } => "probe",
            Task::Verdict { .. } => "verdict",
            Task::Report => "report",
        }
    }

    pub const KINDS: [&'static str; 9] = [
        "prepare",
        "segmenter",
        "split",
        "train",
        "evaluate",
        "aggregate",
        "probe",
        "verdict",
        "report",
    ];

    /// The version of the layout this kind of cell writes. Raising it gives those cells, and every cell
    /// after them, new ids: an output folder of an older tool computes them again instead of serving the
    /// older layout. Version 1 is left out of ids, which keeps the ids cells had before versions existed.
    pub fn output_version(&self) -> u32 {
        match self {
            // 2: counts, confusion matrices and the predicted attribute in results; terms with sources.
            // 3: bounds combined side by side over units; Newcombe's AUC interval at 0 and 1.
            Task::Aggregate { .. } | Task::Probe { .. } | Task::Verdict { .. } => 3,
            // Headline, flags, wide tables and figures.
            Task::Report => 2,
            _ => 1,
        }
    }
}

/// Builds the plan of a checked study.
pub fn plan(study: &Study) -> Plan {
    let mut b = PlanBuilder {
        study,
        cells: IndexMap::new(),
    };
    for name in study.experiments.keys() {
        b.aggregate(name);
    }
    for name in study.probes.keys() {
        b.probe(name);
    }
    let mut report_deps: Vec<String> = Vec::new();
    for (name, h) in &study.hypotheses {
        let mut deps = Vec::new();
        for target in h.uses() {
            deps.push(if study.experiments.contains_key(&target) {
                format!("aggregate/{target}")
            } else {
                format!("probe/{target}")
            });
        }
        let cell = format!("verdict/{name}");
        b.add(
            &cell,
            deps,
            Task::Verdict {
                hypothesis: name.clone(),
            },
            canonical(h),
        );
        report_deps.push(cell);
    }
    report_deps.extend(study.experiments.keys().map(|e| format!("aggregate/{e}")));
    report_deps.extend(study.probes.keys().map(|p| format!("probe/{p}")));
    b.add(
        "report",
        report_deps,
        Task::Report,
        canonical(&study.report),
    );
    let mut cells: Vec<Cell> = b.cells.into_values().collect();
    order(&mut cells);
    Plan {
        input_check: None,
        format: PLAN_FORMAT,
        fingerprint: fingerprint(study),
        study: study.clone(),
        cells,
    }
}

struct PlanBuilder<'s> {
    study: &'s Study,
    cells: IndexMap<String, Cell>,
}

impl PlanBuilder<'_> {
    /// Adds a cell once; its id hashes its kind, name, content, seed and dependencies' ids.
    fn add(
        &mut self,
        name: &str,
        deps: Vec<String>,
        task: Task,
        content: serde_json::Value,
    ) -> String {
        if self.cells.contains_key(name) {
            return name.to_string();
        }
        let seed = cell_seed(self.study.seed, name);
        let dep_ids: Vec<&str> = deps
            .iter()
            .filter_map(|d| self.cells.get(d).map(|c| c.id.as_str()))
            .collect();
        let mut id_input = serde_json::json!({
            "name": name,
            "task": canonical(&task),
            "content": content,
            "seed": seed,
            "deps": dep_ids,
        });
        if task.output_version() > 1 {
            id_input["output"] = task.output_version().into();
        }
        let id = hash_hex(&id_input)[..16].to_string();
        self.cells.insert(
            name.to_string(),
            Cell {
                name: name.to_string(),
                id,
                seed,
                deps,
                task,
                inputs: BTreeMap::new(),
            },
        );
        name.to_string()
    }

    fn prepare(&mut self, dataset: &str) -> String {
        let name = format!("prepare/{dataset}");
        if self.cells.contains_key(&name) {
            return name;
        }
        let mut deps = Vec::new();
        let data = &self.study.datasets[dataset];
        if let DatasetSource::Union { parts } = &data.source {
            for part in parts {
                deps.push(self.prepare(part));
            }
        }
        self.add(
            &format!("prepare/{dataset}"),
            deps,
            Task::Prepare {
                dataset: dataset.into(),
            },
            canonical(data),
        )
    }

    fn segmenter(&mut self, name: &str) -> String {
        let cell = format!("segmenter/{name}");
        if self.cells.contains_key(&cell) {
            return cell;
        }
        let seg = &self.study.segmenters[name];
        let deps = match &seg.source {
            SegmenterSource::Train { data, .. } => vec![self.prepare(data)],
            SegmenterSource::Weights { .. } => vec![],
        };
        self.add(
            &format!("segmenter/{name}"),
            deps,
            Task::Segmenter {
                segmenter: name.into(),
            },
            canonical(seg),
        )
    }

    fn split(&mut self, name: &str) -> String {
        let cell = format!("split/{name}");
        if self.cells.contains_key(&cell) {
            return cell;
        }
        let split = &self.study.splits[name];
        let deps = vec![self.prepare(&split.data)];
        self.add(
            &format!("split/{name}"),
            deps,
            Task::Split { split: name.into() },
            canonical(split),
        )
    }

    /// Train cells of one setup: one per fold and repeat.
    fn trainings(&mut self, setup: &Setup, target: &Target, repeats: u32) -> Vec<String> {
        let split = &self.study.splits[&setup.split];
        let mut out = Vec::new();
        for fold in split.folds() {
            for repeat in 1..=repeats {
                out.push(self.train(setup, target, fold.clone(), repeat));
            }
        }
        out
    }

    fn train(
        &mut self,
        setup: &Setup,
        target: &Target,
        fold: Option<String>,
        repeat: u32,
    ) -> String {
        let prefix = match target {
            Target::Label => "train".to_string(),
            other => format!("train-{}", other.name()),
        };
        let split_part = match &fold {
            Some(f) => format!("{}@{f}", setup.split),
            None => setup.split.clone(),
        };
        let name = format!(
            "{prefix}/{}/{}/{split_part}/{}/{}/rep{repeat}",
            setup.model, setup.crop, setup.preprocess, setup.train
        );
        if self.cells.contains_key(&name) {
            return name;
        }
        let s = self.study;
        let mut deps = vec![self.split(&setup.split)];
        for seg in crop_segmenters(&s.crops[&setup.crop]) {
            deps.push(self.segmenter(&seg));
        }
        let content = serde_json::json!({
            "model": canonical(&s.models[&setup.model]),
            "crop": canonical(&s.crops[&setup.crop]),
            "preprocess": canonical(&s.preprocessings[&setup.preprocess]),
            "train": canonical(&s.trainings[&setup.train]),
        });
        self.add(
            &name,
            deps,
            Task::Train {
                setup: setup.clone(),
                target: target.clone(),
                fold,
                repeat,
            },
            content,
        )
    }

    fn evaluate(&mut self, train: &str) -> String {
        let name = train.replacen("train", "evaluate", 1);
        self.add(
            &name,
            vec![train.to_string()],
            Task::Evaluate {
                train: train.into(),
            },
            serde_json::Value::Null,
        )
    }

    /// Evaluate cells of one grid point of an experiment.
    fn point_evaluations(&mut self, experiment: &str, point: &GridPoint) -> Vec<String> {
        let repeats = self.study.experiments[experiment].repeats;
        let trains = self.trainings(&point.setup(), &Target::Label, repeats);
        trains.iter().map(|t| self.evaluate(t)).collect()
    }

    fn aggregate(&mut self, experiment: &str) -> String {
        let cell = format!("aggregate/{experiment}");
        if self.cells.contains_key(&cell) {
            return cell;
        }
        let exp = &self.study.experiments[experiment];
        let mut deps = Vec::new();
        for point in exp.points.clone() {
            deps.extend(self.point_evaluations(experiment, &point));
        }
        let exp = &self.study.experiments[experiment];
        self.add(
            &format!("aggregate/{experiment}"),
            deps,
            Task::Aggregate {
                experiment: experiment.into(),
            },
            canonical(exp),
        )
    }

    /// The grid point a probe reads: the selected one, or the experiment's only one.
    fn probe_point(&self, experiment: &str, point: &Option<GridPoint>) -> GridPoint {
        point
            .clone()
            .unwrap_or_else(|| self.study.experiments[experiment].points[0].clone())
    }

    fn probe(&mut self, name: &str) -> String {
        let probe = &self.study.probes[name];
        let repeats = self.study.repeats;
        let deps = match probe.kind.clone() {
            ProbeKind::Predict { target, setup } => {
                let trains = self.trainings(&setup, &target, repeats);
                trains.iter().map(|t| self.evaluate(t)).collect()
            }
            ProbeKind::Occlusion { crops, setup } => {
                let mut deps = Vec::new();
                for crop in crops {
                    let s = Setup {
                        crop,
                        ..setup.clone()
                    };
                    let trains = self.trainings(&s, &Target::Label, repeats);
                    deps.extend(trains.iter().map(|t| self.evaluate(t)));
                }
                deps
            }
            ProbeKind::Gap {
                experiment, point, ..
            } => {
                let p = self.probe_point(&experiment, &point);
                let mut deps = self.point_evaluations(&experiment, &p);
                deps.push(self.aggregate(&experiment));
                deps
            }
            ProbeKind::Association { split, .. } | ProbeKind::MetadataBaseline { split, .. } => {
                vec![self.split(&split)]
            }
            ProbeKind::Finetune {
                experiment, point, ..
            } => {
                let p = self.probe_point(&experiment, &point);
                let repeats = self.study.experiments[&experiment].repeats;
                self.trainings(&p.setup(), &Target::Label, repeats)
            }
            ProbeKind::Saliency {
                experiment,
                point,
                masks,
                ..
            } => {
                let p = self.probe_point(&experiment, &point);
                let mut deps = self.point_evaluations(&experiment, &p);
                if let MaskSource::Segmenter(seg) = masks {
                    deps.push(self.segmenter(&seg));
                }
                deps
            }
        };
        let probe = &self.study.probes[name];
        self.add(
            &format!("probe/{name}"),
            deps,
            Task::Probe { probe: name.into() },
            canonical(probe),
        )
    }
}

/// Segmenters a crop needs.
fn crop_segmenters(crop: &Crop) -> Vec<String> {
    let masks = match &crop.op {
        CropOp::LungBox { masks, .. } => Some(masks),
        CropOp::Occlude {
            region: Region::Lungs(m),
        }
        | CropOp::KeepOnly {
            region: Region::Lungs(m),
        } => Some(m),
        _ => None,
    };
    match masks {
        Some(MaskSource::Segmenter(s)) => vec![s.clone()],
        _ => vec![],
    }
}

/// The seed of a cell: a hash of the study seed and the cell's name, so every random choice is fixed by
/// the study and independent of which other cells exist.
pub fn cell_seed(study_seed: u64, cell: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"study-cell-seed");
    h.update(&study_seed.to_le_bytes());
    h.update(cell.as_bytes());
    let bytes = h.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// Stable topological order: among the cells whose dependencies are placed, the one earliest in pipeline
/// order (then by name) comes next, so dependencies always come first (a union's parts before the union).
fn order(cells: &mut Vec<Cell>) {
    use std::cmp::Reverse;
    use std::collections::{BinaryHeap, HashMap};
    let rank = |c: &Cell| {
        Task::KINDS
            .iter()
            .position(|k| *k == c.kind())
            .unwrap_or(usize::MAX)
    };
    let index: HashMap<String, usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    let mut waiting: Vec<usize> = cells
        .iter()
        .map(|c| c.deps.iter().filter(|d| index.contains_key(*d)).count())
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); cells.len()];
    for (i, c) in cells.iter().enumerate() {
        for d in &c.deps {
            if let Some(j) = index.get(d) {
                dependents[*j].push(i);
            }
        }
    }
    let key = |i: usize| Reverse((rank(&cells[i]), cells[i].name.clone(), i));
    let mut ready: BinaryHeap<_> = (0..cells.len())
        .filter(|i| waiting[*i] == 0)
        .map(key)
        .collect();
    let mut sorted = Vec::with_capacity(cells.len());
    while let Some(Reverse((_, _, i))) = ready.pop() {
        sorted.push(i);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(key(j));
            }
        }
    }
    let mut taken: Vec<Option<Cell>> = std::mem::take(cells).into_iter().map(Some).collect();
    *cells = sorted.into_iter().filter_map(|i| taken[i].take()).collect();
}
