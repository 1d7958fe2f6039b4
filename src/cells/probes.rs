//! The probe cells: each reads what its probe needs (predictions, records, partitions) and hands it to
//! the statistics in `probe`, or runs a probe that trains again (fine-tuning, saliency).

use super::readers::{partitions, records};
use super::{finetune, saliency, units};
use crate::diagnostics::Code;
use crate::exec::store::CellWriter;
use crate::exec::{CellError, Ctx};
use crate::plan::Cell;
use crate::probe::{self, GapInput, Results};
use crate::study::{ProbeKind, Setup};

pub fn probe(ctx: &Ctx, cell: &Cell, name: &str, writer: &CellWriter) -> Result<(), CellError> {
    let study = ctx.study();
    let results: Results = match &study.probes[name].kind {
        ProbeKind::Predict { setup, target } => {
            let mut results = probe::predict(name, &units(ctx, &cell.deps, setup)?, cell.seed);
            results.details["target"] = target.name().into();
            results
        }
        ProbeKind::Occlusion { crops, setup } => {
            let by_crop = crops
                .iter()
                .map(|crop| {
                    let s = Setup {
                        crop: crop.clone(),
                        ..setup.clone()
                    };
                    units(ctx, &cell.deps, &s)
                })
                .collect::<Result<Vec<_>, _>>()?;
            probe::occlusion(name, crops, &study.splits[&setup.split], &by_crop)
        }
        ProbeKind::Gap {
            experiment,
            point,
            metric,
            against,
        } => {
            let exp = &study.experiments[experiment];
            let point = point.clone().unwrap_or_else(|| exp.points[0].clone());
            let units = units(ctx, &cell.deps, &point.setup())?;
            let input = GapInput {
                experiment,
                exp,
                point: &point,
                split: &study.splits[&point.split],
                metric: *metric,
                unseen: against.as_deref().unwrap_or("unseen"),
                units: &units,
            };
            probe::gap(name, input, cell.seed).map_err(|e| {
                CellError::fault(Code::UnknownClass, e.to_string()).of("experiment", experiment)
            })?
        }
        ProbeKind::Association {
            first,
            second,
            split,
            partition,
        } => {
            let records = records(ctx, &study.splits[split].data)?.records;
            let folds = partitions(ctx, split)?.assignment(split).folds;
            probe::association(name, (first, second), (split, partition), &records, &folds)
        }
        ProbeKind::MetadataBaseline { features, split } => {
            let data = &study.splits[split].data;
            let records = records(ctx, data)?.records;
            let folds = partitions(ctx, split)?.assignment(split).folds;
            // The positive label: the dataset's first declared class, else the first record's.
            let positive = study
                .datasets
                .get(data)
                .and_then(|d| d.classes.as_ref())
                .and_then(|c| c.first().cloned())
                .or_else(|| records.first().map(|r| r.label.clone()))
                .unwrap_or_default();
            probe::metadata_baseline(name, features, &positive, &records, &folds)
        }
        ProbeKind::Finetune {
            experiment,
            point,
            sizes,
            epochs,
        } => finetune::finetune(ctx, cell, name, experiment, point, sizes, *epochs)?,
        ProbeKind::Saliency {
            experiment,
            point,
            samples,
            masks,
        } => saliency::saliency(ctx, cell, name, experiment, point, *samples, masks)?,
    };
    super::key_number(&results, writer);
    writer.write_json("results.json", &results)
}
