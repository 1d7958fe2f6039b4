//! The evaluate cell: predicts every image of a train cell's fold with its model(s).

use super::images::images_of;
use super::readers::{partitions, records, target_value};
use super::train::TrainedModel;
use super::{guarded, net_config, train_task};
use crate::diagnostics::Code;
use crate::eval::predictions::{Prediction, Predictions};
use crate::exec::device::on_device;
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};
use crate::plan::Task;
use crate::train::{self, checkpoint::load_net};
use burn::tensor::backend::AutodiffBackend;

/// Predicts every image of the train cell's fold with its model.
pub fn evaluate(ctx: &Ctx, train_cell: &str, writer: &CellWriter) -> Result<(), CellError> {
    let cell = ctx.cell(train_cell)?;
    let (setup, target, fold) = train_task(cell)?;
    let repeat = match &cell.task {
        Task::Train { repeat, .. } => *repeat,
        _ => 1,
    };
    let info: TrainedModel = ctx.read(train_cell, "model.json")?;
    let study = ctx.study();
    let split = &study.splits[&setup.split];
    let records = records(ctx, &split.data)?.records;
    let parts = partitions(ctx, &setup.split)?;
    let assignment = &parts.folds[parts.fold_index(fold)].1;
    let wanted: Vec<usize> = (0..records.len())
        .filter(|i| assignment[*i].is_some() && target_value(&records[*i], target).is_some())
        .collect();
    let images = images_of(ctx, setup, &records, &wanted)?;
    let pre = &study.preprocessings[&setup.preprocess];
    let config = net_config(ctx, setup, info.classes.len());
    let dir = ctx.store.cell_dir(cell);
    let pixels: Vec<Vec<u8>> = images.usable.iter().map(|(_, px)| px.clone()).collect();
    let probabilities = guarded(|| {
        on_device!(ctx.device, |D, device| {
            type B = <D as AutodiffBackend>::InnerBackend;
            let nets = (0..info.nets)
                .map(|k| load_net::<B>(&dir, &format!("model-{k}.bin"), &config, &device))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    CellError::fault(Code::CorruptOutput, e.to_string())
                        .help("delete the train cell's folder and run again")
                })?;
            let batcher = train::batch::Batcher::with_stats(
                pre,
                pre.resize as usize,
                config.in_channels,
                info.train_stats,
            );
            Ok(train::predict(&nets, &batcher, &pixels, &device))
        })
    })
    .map_err(|e| e.of("model", &setup.model))?;
    let rows = images
        .usable
        .iter()
        .zip(probabilities)
        .map(|((i, _), p)| {
            let r = &records[*i];
            Prediction {
                image: r.id.clone(),
                source: r.source.clone(),
                truth: target_value(r, target).unwrap_or_default(),
                partition: assignment[*i].clone().unwrap_or_default(),
                probabilities: p,
            }
        })
        .collect();
    let predictions = Predictions {
        cell: train_cell.to_string(),
        fold: fold.clone(),
        repeat,
        classes: info.classes,
        rows,
        excluded: images.excluded,
        tests: Default::default(),
    };
    writer.write_json("predictions.json", &predictions)?;
    let csv = predictions
        .to_csv()
        .map_err(|e| CellError::fault(Code::OutputWrite, e.to_string()))?;
    writer.write("predictions.csv", csv.as_bytes())
}
