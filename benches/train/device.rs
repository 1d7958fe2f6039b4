//! The train step on an accelerator, taken apart: where a step's wall time goes (building the batch on the
//! host, copying it to the device, queueing the work, waiting for it), the first step's cost (kernel
//! compilation and autotuning) against the steady state, and what reading the loss every step costs.
//!
//!     train --device-rows cuda [WORD…]     # one process per row, as `benches/cuda/measure.sh` runs it
//!     train --device-rows cpu cnn/32       # the same measurement on the CPU backend (to check the bench)
//!
//! Each row prints one line of `key value` pairs, so that a script can collect them into a table.

use super::{Case, batch, cases};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use std::time::Instant;
use study::backend::{FusedAdam, TrainBackend};
use study::model::Net;

/// The sweep of the GPU measurement: every network at batch 32, 64 and 128, the small CNN up to 512.
pub fn sweep() -> Vec<(Case, usize)> {
    let mut rows = Vec::new();
    for case in cases() {
        let batches: &[usize] = match case.name.split('/').next() {
            Some("cnn") => &[32, 128, 512],
            _ if case.shape[0] == 32 => &[32, 64, 128],
            _ => &[],
        };
        for &b in batches {
            let mut shape = case.shape;
            shape[0] = b;
            rows.push((
                Case {
                    name: case.name,
                    config: case.config.clone(),
                    shape,
                    steps: case.steps,
                },
                b,
            ));
        }
    }
    rows
}

/// Seconds of each phase, summed over the timed steps.
#[derive(Default)]
struct Phases {
    /// Building the batch's values on the host.
    host: f64,
    /// `Tensor::from_data`: the copy to the device (and the wait for it, measured with a sync).
    upload: f64,
    /// Forward, backward and optimiser calls returning (the work queued, on an asynchronous device).
    queue: f64,
    /// Waiting for the device: reading the loss, or the sync at the end of an inference.
    wait: f64,
}

/// One row: `mode` (`train` or `inference`) of `case` for `steps` steps after a first, separately timed
/// step; the loss is read every `read_every` steps (1: every step, as a training loop that logs it).
pub fn row<B: TrainBackend>(
    case: &Case,
    mode: &str,
    steps: usize,
    read_every: usize,
    device: &B::Device,
) -> String {
    B::seed(device, 1);
    let net: Net<B> = Net::new(&case.config, device);
    let mut phases = Phases::default();
    let n = case.shape[0];
    let mut step_times = Vec::new();
    let sync = || B::sync(device).expect("device sync");
    let mut timed = |i: usize, phases: &mut Phases, step: &mut dyn FnMut(&mut Phases)| {
        let start = Instant::now();
        step(phases);
        if i > 0 {
            step_times.push(start.elapsed().as_secs_f64());
        }
        start.elapsed().as_secs_f64()
    };
    let mut first = 0.0;
    let mut losses = Vec::new();
    if mode == "inference" {
        let inner = net.valid();
        for i in 0..=steps {
            let mut scratch = Phases::default();
            let p = if i == 0 { &mut scratch } else { &mut phases };
            let t = timed(i, p, &mut |p: &mut Phases| {
                let x = upload::<B::InnerBackend>(case, p, device, sync);
                let at = Instant::now();
                let y = inner.forward(x);
                p.queue += at.elapsed().as_secs_f64();
                let at = Instant::now();
                let _ = y.into_data();
                p.wait += at.elapsed().as_secs_f64();
            });
            if i == 0 {
                first = t;
            }
        }
    } else {
        let mut optim = FusedAdam::default().init();
        let loss_fn = CrossEntropyLossConfig::new().init(device);
        let mut net = Some(net);
        for i in 0..=steps {
            let mut scratch = Phases::default();
            let p = if i == 0 { &mut scratch } else { &mut phases };
            let t = timed(i, p, &mut |p: &mut Phases| {
                let (x, y) = upload_pair::<B>(case, p, device, sync);
                let at = Instant::now();
                let model = net.take().expect("network");
                let loss = loss_fn.forward(model.forward(x), y);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                net = Some(optim.step(1e-3, model, grads));
                p.queue += at.elapsed().as_secs_f64();
                let at = Instant::now();
                if i % read_every == 0 || i == steps {
                    losses.push(loss.into_scalar().elem::<f32>());
                }
                sync();
                p.wait += at.elapsed().as_secs_f64();
            });
            if i == 0 {
                first = t;
            }
        }
    }
    step_times.sort_by(f64::total_cmp);
    let median = step_times[step_times.len() / 2];
    let total: f64 = step_times.iter().sum();
    let share = |v: f64| 100.0 * v / total.max(f64::MIN_POSITIVE);
    let falls = match (losses.first(), losses.last()) {
        (Some(a), Some(b)) if losses.len() > 1 => format!(" loss_first {a:.4} loss_last {b:.4}"),
        _ => String::new(),
    };
    format!(
        "case {} batch {n} mode {mode} read_every {read_every} images_per_s {:.1} first_step_s {first:.3} \
         median_step_s {median:.4} host_pct {:.1} upload_pct {:.1} queue_pct {:.1} wait_pct {:.1}{falls}",
        case.name.split('/').next().unwrap_or(case.name),
        n as f64 / median,
        share(phases.host),
        share(phases.upload),
        share(phases.queue),
        share(phases.wait),
    )
}

/// The bench's batch built on the host and copied to the device, with the time of each part.
fn upload<B: Backend>(
    case: &Case,
    phases: &mut Phases,
    device: &B::Device,
    sync: impl Fn(),
) -> Tensor<B, 4> {
    let at = Instant::now();
    let host = batch::<burn::backend::Flex>(case.shape, &Default::default())
        .0
        .into_data();
    phases.host += at.elapsed().as_secs_f64();
    let at = Instant::now();
    let x = Tensor::from_data(host, device);
    sync();
    phases.upload += at.elapsed().as_secs_f64();
    x
}

fn upload_pair<B: Backend>(
    case: &Case,
    phases: &mut Phases,
    device: &B::Device,
    sync: impl Fn(),
) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let x = upload::<B>(case, phases, device, &sync);
    let labels: Vec<i64> = (0..case.shape[0]).map(|i| (i % 2) as i64).collect();
    let y = Tensor::from_data(TensorData::new(labels, [case.shape[0]]), device);
    (x, y)
}
