//! Training: optimisers, learning-rate schedules, early stopping, class weights, epoch selection and
//! snapshot ensembles, seeded so the same inputs give the same weights.

pub mod batch;
pub(crate) mod checkpoint;
pub mod schedule;
pub mod segment;

use crate::backend::{FusedAdam, ModelBackend, TrainBackend};
use crate::eval::metrics::{Scores, auc};
use crate::model::{Net, NetConfig};
use crate::study::{
    ClassWeights, Metric, Optimizer as OptimizerSpec, Preprocess, Selection, Training,
};
use batch::Batcher;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer, SgdConfig, decay::WeightDecayConfig};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Prepared 8-bit images and class indices.
#[derive(Clone, Copy)]
pub struct Samples<'a> {
    pub images: &'a [Vec<u8>],
    pub labels: &'a [usize],
}

/// Everything one training run reads.
pub struct Run<'a> {
    pub net: NetConfig,
    pub training: &'a Training,
    pub preprocess: &'a Preprocess,
    /// Image side of the prepared images.
    pub size: usize,
    /// The class whose score is reported (AUC of `positive` vs the rest).
    pub positive: usize,
    pub seed: u64,
    pub train: Samples<'a>,
    pub validation: Option<Samples<'a>>,
    /// Where to draw the progress bar (none: hidden).
    pub progress: Option<&'a indicatif::MultiProgress>,
    /// Folder for end-of-epoch checkpoints; a run finding one there resumes after its epoch.
    pub checkpoint: Option<&'a std::path::Path>,
    /// Stop after this many epochs in this call (the checkpoint lets a later call go on).
    pub epoch_budget: Option<u32>,
    /// Start from these weights (a record written by `checkpoint::net_bytes`) instead of a fresh draw.
    pub init: Option<&'a [u8]>,
    /// Which parameters stay fixed.
    pub freeze: crate::study::Freeze,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: u32,
    pub lr: f64,
    pub loss: f64,
    pub validation_auc: Option<f64>,
    pub validation_loss: Option<f64>,
}

/// A trained model (or snapshot ensemble), with its history.
pub struct Trained<B: Backend> {
    /// The selected network; with snapshot ensembles, every snapshot (predictions are averaged).
    pub nets: Vec<Net<B>>,
    pub history: Vec<EpochLog>,
    /// The epoch whose weights were kept (1-based).
    pub selected_epoch: u32,
    /// Train-partition mean and standard deviation, for `normalize train_stats`.
    pub train_stats: (f64, f64),
    /// A line for each damaged checkpoint discarded before resuming.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("the loss became {value} at epoch {epoch} (learning rate {lr}): training diverged")]
    Diverged { epoch: u32, lr: f64, value: f64 },
    #[error("the training partition is empty")]
    NoData,
    #[error("stopped after epoch {epoch} as asked; the checkpoint resumes it")]
    Paused { epoch: u32 },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write {
        path: String,
        reason: String,
        disk_full: bool,
    },
}

pub fn train<AB: TrainBackend>(
    run: &Run,
    device: &AB::Device,
) -> Result<Trained<AB::InnerBackend>, TrainError> {
    match &run.training.optimizer {
        OptimizerSpec::Sgd {
            momentum,
            nesterov,
            weight_decay,
            ..
        } => {
            let mut config = SgdConfig::new();
            if *momentum > 0.0 {
                // PyTorch's SGD: no dampening.
                config = config.with_momentum(Some(
                    MomentumConfig::new()
                        .with_momentum(*momentum)
                        .with_dampening(0.0)
                        .with_nesterov(*nesterov),
                ));
            }
            config = config.with_weight_decay(decay(*weight_decay));
            fit::<AB, _>(run, config.init(), device)
        }
        OptimizerSpec::Adam {
            beta1,
            beta2,
            weight_decay,
            ..
        } => {
            // burn's Adam in one pass per parameter; same arithmetic and record.
            let adam = FusedAdam::new(*beta1 as f32, *beta2 as f32, 1e-8, weight(*weight_decay));
            fit::<AB, _>(run, adam.init(), device)
        }
        OptimizerSpec::Adamw {
            beta1,
            beta2,
            weight_decay,
            ..
        } => {
            let config = AdamWConfig::new()
                .with_beta_1(*beta1 as f32)
                .with_beta_2(*beta2 as f32)
                .with_epsilon(1e-8)
                .with_weight_decay(*weight_decay as f32);
            fit::<AB, _>(run, config.init(), device)
        }
    }
}

/// Coupled (L2) weight decay, when asked for.
fn decay(weight_decay: f64) -> Option<WeightDecayConfig> {
    weight(weight_decay).map(WeightDecayConfig::new)
}

/// The penalty of coupled weight decay, when asked for.
fn weight(weight_decay: f64) -> Option<f32> {
    (weight_decay > 0.0).then_some(weight_decay as f32)
}

pub use crate::model::hold_backend_rng;

fn fit<AB: TrainBackend, O: Optimizer<Net<AB>, AB>>(
    run: &Run,
    mut optim: O,
    device: &AB::Device,
) -> Result<Trained<AB::InnerBackend>, TrainError> {
    if run.train.images.is_empty() {
        return Err(TrainError::NoData);
    }
    let _rng = hold_backend_rng();
    AB::seed(device, run.seed);
    let mut net: Net<AB> = Net::new(&run.net, device);
    if let Some(bytes) = run.init {
        net = checkpoint::net_from_bytes(&run.net, bytes, device)?;
    }
    let (resumed, notes) = match run.checkpoint {
        Some(dir) => checkpoint::load::<AB, O>(dir, &run.net, device)?,
        None => (None, Vec::new()),
    };
    let batcher = Batcher::new(
        run.preprocess,
        run.size,
        run.net.in_channels,
        run.train.images,
    );
    let weights = class_weights(run);
    let loss_fn = CrossEntropyLossConfig::new()
        .with_weights(weights)
        .init(device);
    let t = run.training;
    let mut history = Vec::new();
    let mut best: Option<(f64, u32, Net<AB::InnerBackend>)> = None;
    let mut snapshots = Vec::new();
    let mut since_best = 0;
    let mut first_epoch = 1;
    if let Some(r) = resumed {
        net = r.net;
        optim = optim.load_record(r.optimizer);
        history = r.state.history;
        since_best = r.state.since_best;
        best = r
            .state
            .best
            .zip(r.best)
            .map(|((score, epoch), n)| (score, epoch, n));
        snapshots = r.snapshots;
        first_epoch = r.state.epoch + 1;
    }
    net = crate::model::weights::freeze(net, run.freeze);
    let bar = progress(run.progress, t.epochs as u64);
    bar.set_position(first_epoch as u64 - 1);
    let mut stop = history.last().is_some_and(|_| early_stopped(t, since_best));
    for epoch in first_epoch..=t.epochs {
        if stop {
            break;
        }
        if let Some(budget) = run.epoch_budget
            && epoch >= first_epoch + budget
        {
            bar.finish_and_clear();
            return Err(TrainError::Paused { epoch: epoch - 1 });
        }
        let lr = schedule::learning_rate(t, epoch);
        // Each epoch's randomness (shuffle, augmentation, dropout) depends on the seed and the epoch
        // only, so a resumed run draws exactly what an uninterrupted one would.
        let epoch_seed = run.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        AB::seed(device, epoch_seed);
        let mut rng = ChaCha8Rng::seed_from_u64(epoch_seed);
        let mut order: Vec<usize> = (0..run.train.images.len()).collect();
        order.shuffle(&mut rng);
        let (mut total, mut seen) = (0.0, 0usize);
        let epoch_started = std::time::Instant::now();
        for chunk in order.chunks(t.batch as usize) {
            let x = batcher.batch::<AB>(run.train.images, chunk, Some((run.seed, epoch)), device);
            let y = Tensor::<AB, 1, Int>::from_data(
                TensorData::new(
                    chunk
                        .iter()
                        .map(|i| run.train.labels[*i] as i64)
                        .collect::<Vec<_>>(),
                    [chunk.len()],
                ),
                device,
            );
            let loss = loss_fn.forward(net.forward(x), y);
            let value: f64 = loss.clone().into_scalar().elem::<f64>();
            if exploded(value) {
                return Err(TrainError::Diverged { epoch, lr, value });
            }
            total += value * chunk.len() as f64;
            seen += chunk.len();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
        }
        let (validation_auc, validation_loss) = match run.validation {
            Some(v) if !v.images.is_empty() => {
                let (probs, loss) = predict_with_loss(&net.valid(), &batcher, v, device);
                (auc_of(&probs, v.labels, run.positive), Some(loss))
            }
            _ => (None, None),
        };
        history.push(EpochLog {
            epoch,
            lr,
            loss: total / seen as f64,
            validation_auc,
            validation_loss,
        });
        bar.set_message(format!(
            "loss {:.4}, {:.0} img/s{}",
            total / seen as f64,
            seen as f64 / epoch_started.elapsed().as_secs_f64().max(1e-9),
            validation_auc.map_or(String::new(), |a| format!(", validation auc {a:.3}"))
        ));
        bar.inc(1);
        if schedule::ends_snapshot_cycle(t, epoch) {
            snapshots.push(net.valid());
        }
        // Epoch selection and early stopping read the validation metric (higher is better but loss).
        let watched = match (&t.select, &t.early_stop) {
            (Selection::Best { metric }, _) => Some(*metric),
            (_, Some(es)) => Some(es.metric),
            _ => None,
        };
        if let Some(metric) = watched {
            let score = match metric {
                Metric::Loss => validation_loss.map(|l| -l),
                _ => validation_auc,
            };
            if let Some(score) = score {
                let min_delta = t.early_stop.as_ref().map_or(0.0, |e| e.min_delta);
                // A saturated metric (an AUC of 1.0 from the first epoch) would keep the first epoch
                // forever: equal scores are broken by the lower validation loss.
                let loss_of = |e: u32| {
                    history
                        .get(e as usize - 1)
                        .and_then(|h: &EpochLog| h.validation_loss)
                        .unwrap_or(f64::INFINITY)
                };
                let improved = best.as_ref().is_none_or(|(b, e, _)| {
                    score > b + min_delta
                        || (score == *b && validation_loss.is_some_and(|l| l < loss_of(*e)))
                });
                if improved {
                    best = Some((score, epoch, net.valid()));
                    since_best = 0;
                } else {
                    since_best += 1;
                }
                stop = early_stopped(t, since_best);
            }
        }
        if let Some(dir) = run.checkpoint {
            let state = checkpoint::State {
                epoch,
                history: history.clone(),
                since_best,
                best: best.as_ref().map(|(s, e, _)| (*s, *e)),
            };
            checkpoint::save::<AB, O>(
                dir,
                &state,
                &net,
                &optim,
                best.as_ref().map(|(_, _, n)| n),
                &snapshots,
            )?;
        }
    }
    bar.finish_and_clear();
    let last_epoch = history.last().map_or(0, |h| h.epoch);
    let (nets, selected_epoch) = if !snapshots.is_empty() {
        (snapshots, last_epoch)
    } else {
        match (&t.select, best) {
            (Selection::Best { .. }, Some((_, e, n))) => (vec![n], e),
            _ => (vec![net.valid()], last_epoch),
        }
    };
    Ok(Trained {
        nets,
        history,
        selected_epoch,
        train_stats: batcher.train_stats,
        notes,
    })
}

/// A loss that is NaN, infinite, or beyond any value a learning model reaches (a cross-entropy of 1000
/// gives the true class a probability of e^-1000): training has diverged.
pub(crate) fn exploded(loss: f64) -> bool {
    !loss.is_finite() || loss > 1e3
}

fn early_stopped(t: &Training, since_best: u32) -> bool {
    t.early_stop
        .as_ref()
        .is_some_and(|es| since_best >= es.patience)
}

fn class_weights(run: &Run) -> Option<Vec<f32>> {
    if run.training.class_weights != ClassWeights::Balanced {
        return None;
    }
    let classes = run.net.classes;
    let mut counts = vec![0usize; classes];
    for l in run.train.labels {
        counts[*l] += 1;
    }
    let n = run.train.labels.len() as f32;
    Some(
        counts
            .iter()
            .map(|c| {
                if *c == 0 {
                    0.0
                } else {
                    n / (classes as f32 * *c as f32)
                }
            })
            .collect(),
    )
}

fn auc_of(probs: &[Vec<f32>], labels: &[usize], positive: usize) -> Option<f64> {
    let scores: Vec<f64> = probs.iter().map(|p| p[positive] as f64).collect();
    let is_pos: Vec<bool> = labels.iter().map(|l| *l == positive).collect();
    auc(&Scores::new(&scores, &is_pos)).get()
}

/// Class probabilities of every image, averaged over the nets of an ensemble.
pub fn predict<B: ModelBackend>(
    nets: &[Net<B>],
    batcher: &Batcher,
    images: &[Vec<u8>],
    device: &B::Device,
) -> Vec<Vec<f32>> {
    let mut sum: Vec<Vec<f32>> = Vec::new();
    for net in nets {
        let split = Samples {
            images,
            labels: &[],
        };
        let (probs, _) = predict_inner(net, batcher, split, device, false);
        if sum.is_empty() {
            sum = probs;
        } else {
            for (s, p) in sum.iter_mut().zip(probs) {
                s.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
        }
    }
    let k = nets.len().max(1) as f32;
    sum.iter_mut()
        .for_each(|p| p.iter_mut().for_each(|v| *v /= k));
    sum
}

fn predict_with_loss<B: ModelBackend>(
    net: &Net<B>,
    batcher: &Batcher,
    split: Samples,
    device: &B::Device,
) -> (Vec<Vec<f32>>, f64) {
    predict_inner(net, batcher, split, device, true)
}

fn predict_inner<B: ModelBackend>(
    net: &Net<B>,
    batcher: &Batcher,
    split: Samples,
    device: &B::Device,
    with_loss: bool,
) -> (Vec<Vec<f32>>, f64) {
    let mut out = Vec::with_capacity(split.images.len());
    let mut loss = 0.0;
    let indices: Vec<usize> = (0..split.images.len()).collect();
    for chunk in indices.chunks(64) {
        let x = batcher.batch::<B>(split.images, chunk, None, device);
        let logits = net.forward(x);
        let probs = burn::tensor::activation::softmax(logits, 1);
        let classes = probs.dims()[1];
        let values: Vec<f32> = probs
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        for (k, row) in values.chunks(classes).enumerate() {
            if with_loss {
                loss -= (row[split.labels[chunk[k]]].max(1e-12) as f64).ln();
            }
            out.push(row.to_vec());
        }
    }
    (out, loss / split.images.len().max(1) as f64)
}

fn progress(bars: Option<&indicatif::MultiProgress>, epochs: u64) -> indicatif::ProgressBar {
    let Some(bars) = bars else {
        return indicatif::ProgressBar::hidden();
    };
    let bar = bars.add(indicatif::ProgressBar::new(epochs));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  training {bar:24} epoch {pos}/{len} {msg} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
