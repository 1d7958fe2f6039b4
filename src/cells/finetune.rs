//! The fine-tuning probe: each trained model fine-tuned on a few labelled images of each unseen source,
//! measured on the rest of that source.

use super::images::images_of;
use super::readers::{partitions, records, target_value};
use super::train::TrainedModel;
use super::{guarded, net_config, probe_point, train_cells};
use crate::diagnostics::Code;
use crate::eval::estimate::{UnitValue, combine};
use crate::eval::metrics::{Scores, auc_interval};
use crate::exec::device::on_device;
use crate::exec::{CellError, Ctx};
use crate::plan::{Cell, Task};
use crate::probe::{NoValue, Results};
use crate::study::{GridPoint, Schedule, Selection};
use crate::train::checkpoint::MAX_NET_BYTES;
use crate::train::{self, batch::Batcher};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Fine-tunes each trained model on `n` labelled images of each unseen source, for each declared `n`,
/// and measures the AUC on the rest of that source. Same optimiser and peak learning rate as the original
/// training, constant schedule, last epoch kept (a choice: the papers do not fix these).
pub fn finetune(
    ctx: &Ctx,
    cell: &Cell,
    name: &str,
    experiment: &str,
    point: &Option<GridPoint>,
    sizes: &[u32],
    epochs: u32,
) -> Result<Results, CellError> {
    let study = ctx.study();
    let point = probe_point(ctx, experiment, point);
    let setup = point.setup();
    let exp = &study.experiments[experiment];
    let split = &study.splits[&setup.split];
    let records = records(ctx, &split.data)?.records;
    let parts = partitions(ctx, &setup.split)?;
    let pre = &study.preprocessings[&setup.preprocess];
    let mut training = study.trainings[&setup.train].clone();
    training.epochs = epochs;
    training.schedule = Schedule::Constant;
    training.early_stop = None;
    training.select = Selection::Last;
    let mut per_size: Vec<Vec<Result<UnitValue, NoValue>>> = vec![Vec::new(); sizes.len()];
    let mut table = Vec::new();
    let trains = train_cells(ctx, &cell.deps, &setup)?;
    for (u, train_cell) in trains.iter().enumerate() {
        let Task::Train { fold, .. } = &train_cell.task else {
            continue;
        };
        let info: TrainedModel = ctx.read(&train_cell.name, "model.json")?;
        let assignment = &parts.folds[parts.fold_index(fold)].1;
        let positive = exp
            .positive
            .as_ref()
            .and_then(|p| info.classes.iter().position(|c| c == p))
            .unwrap_or(0);
        let unseen: Vec<usize> = (0..records.len())
            .filter(|i| assignment[*i].as_deref() == Some("unseen"))
            .collect();
        let mut sources: Vec<String> = unseen.iter().map(|i| records[*i].source.clone()).collect();
        sources.sort();
        sources.dedup();
        let config = net_config(ctx, &setup, info.classes.len());
        let bytes = ctx.read_bytes(&train_cell.name, "model-0.bin", MAX_NET_BYTES)?;
        for source in &sources {
            let of_source: Vec<usize> = unseen
                .iter()
                .copied()
                .filter(|i| records[*i].source == *source)
                .collect();
            let images = images_of(ctx, &setup, &records, &of_source)?;
            let mut usable: Vec<(usize, Vec<u8>, usize)> = images
                .usable
                .into_iter()
                .filter_map(|(i, px)| {
                    let y = info.classes.iter().position(|c| {
                        Some(c.clone()) == target_value(&records[i], &crate::study::Target::Label)
                    })?;
                    Some((i, px, y))
                })
                .collect();
            let seed =
                cell.seed ^ blake3::hash(format!("{u}/{source}").as_bytes()).as_bytes()[0] as u64;
            usable.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            for (k, n) in sizes.iter().enumerate() {
                let n = *n as usize;
                // Fine-tuning images alternate between classes, so a small n still holds both.
                let mut picked: Vec<usize> = Vec::new();
                for class in (0..info.classes.len()).cycle().take(n * info.classes.len()) {
                    if picked.len() >= n {
                        break;
                    }
                    if let Some(j) =
                        (0..usable.len()).find(|j| usable[*j].2 == class && !picked.contains(j))
                    {
                        picked.push(j);
                    }
                }
                let rest: Vec<usize> = (0..usable.len()).filter(|j| !picked.contains(j)).collect();
                if picked.len() < n || rest.is_empty() {
                    per_size[k].push(Err(NoValue::TooFewToFineTune {
                        name: source.clone(),
                        n,
                    }));
                    continue;
                }
                let tune_px: Vec<Vec<u8>> = picked.iter().map(|j| usable[*j].1.clone()).collect();
                let tune_y: Vec<usize> = picked.iter().map(|j| usable[*j].2).collect();
                let rest_px: Vec<Vec<u8>> = rest.iter().map(|j| usable[*j].1.clone()).collect();
                let rest_y: Vec<bool> = rest.iter().map(|j| usable[*j].2 == positive).collect();
                let run = train::Run {
                    net: config.clone(),
                    training: &training,
                    preprocess: pre,
                    size: pre.resize as usize,
                    positive,
                    seed: seed ^ n as u64,
                    train: train::Samples {
                        images: &tune_px,
                        labels: &tune_y,
                    },
                    validation: None,
                    progress: None,
                    checkpoint: None,
                    epoch_budget: None,
                    init: Some(&bytes),
                    freeze: study.models[&setup.model].freeze,
                };
                let scores: Vec<f64> = guarded(|| {
                    on_device!(ctx.device, |D, device| {
                        let tuned = train::train::<D>(&run, &device).map_err(|e| {
                            CellError::fault(Code::Diverged, e.to_string()).of("probe", name)
                        })?;
                        // Evaluation keeps the original training's normalisation statistics.
                        let batcher = Batcher::with_stats(
                            pre,
                            pre.resize as usize,
                            config.in_channels,
                            info.train_stats,
                        );
                        Ok(train::predict(&tuned.nets, &batcher, &rest_px, &device)
                            .into_iter()
                            .map(|p| p[positive] as f64)
                            .collect())
                    })
                })?;
                let s = Scores::new(&scores, &rest_y);
                let unit = auc_interval(&s, 0.95)
                    .map(|(a, i)| UnitValue::with_interval(a, i.lower, i.upper));
                table.push(serde_json::json!({
                    "unit": train_cell.name, "source": source, "n": n, "evaluated": rest.len(),
                    "auc": unit.as_ref().ok().map(|u| u.value),
                }));
                per_size[k].push(unit.map_err(NoValue::from));
            }
        }
    }
    let mut results = Results::new(name, "finetune");
    results.units = trains.len();
    for (k, n) in sizes.iter().enumerate() {
        results.push(
            "auc",
            vec![n.to_string()],
            None,
            combine(&per_size[k], 0.95, Some((0.0, 1.0))),
        );
    }
    results.details =
        serde_json::json!({ "experiment": experiment, "point": point, "table": table });
    results.notes.push(format!(
        "fine-tuned for {epochs} epoch(s) with the optimiser and peak learning rate of `{}`, constant schedule; AUC averaged over unseen sources and models",
        setup.train
    ));
    Ok(results)
}
