//! Training the U-Net lung segmenter (Adam, Dice + BCE) and predicting masks with it.

use super::TrainError;
use crate::backend::{FusedAdam, ModelBackend, TrainBackend};
use crate::model::unet::{UNet, dice_bce, dice_iou};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub struct Config {
    pub size: usize,
    pub depth: usize,
    pub base: usize,
    pub epochs: u32,
    pub batch: usize,
    pub lr: f64,
    /// Share of the images held out for Dice and IoU.
    pub holdout: f64,
    pub threshold: f64,
    pub seed: u64,
}

pub struct Fitted<B: Backend> {
    pub net: UNet<B>,
    pub dice: f64,
    pub iou: f64,
    pub train_images: usize,
    pub holdout_images: usize,
    /// Mean training loss per epoch.
    pub losses: Vec<f64>,
}

fn stack<B: Backend>(items: &[&Vec<f32>], size: usize, device: &B::Device) -> Tensor<B, 4> {
    let data: Vec<f32> = items.iter().flat_map(|v| v.iter().copied()).collect();
    Tensor::from_data(TensorData::new(data, [items.len(), 1, size, size]), device)
}

/// Trains on `images` and `masks` (each `size`×`size`, values in [0, 1]) minus a held-out share, and
/// measures Dice and IoU on that share.
pub fn fit<AB: TrainBackend>(
    config: &Config,
    images: &[Vec<f32>],
    masks: &[Vec<f32>],
    device: &AB::Device,
) -> Result<Fitted<AB::InnerBackend>, TrainError> {
    let _rng = super::hold_backend_rng();
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.seed));
    let held = ((images.len() as f64 * config.holdout).round() as usize).clamp(1, images.len() - 1);
    let (holdout, train) = order.split_at(held);
    AB::seed(device, config.seed);
    let mut net: UNet<AB> = UNet::new(1, config.depth, config.base, device);
    let mut optim = FusedAdam::default().init();
    let mut losses = Vec::new();
    for epoch in 1..=config.epochs {
        let epoch_seed = config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut shuffled = train.to_vec();
        shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed));
        let (mut total, mut seen) = (0.0, 0usize);
        for chunk in shuffled.chunks(config.batch.max(1)) {
            let x = stack::<AB>(
                &chunk.iter().map(|i| &images[*i]).collect::<Vec<_>>(),
                config.size,
                device,
            );
            let m = stack::<AB>(
                &chunk.iter().map(|i| &masks[*i]).collect::<Vec<_>>(),
                config.size,
                device,
            );
            let loss = dice_bce(net.forward(x), m);
            let value = loss.clone().into_scalar().elem::<f64>();
            if super::exploded(value) {
                return Err(TrainError::Diverged {
                    epoch,
                    lr: config.lr,
                    value,
                });
            }
            total += value * chunk.len() as f64;
            seen += chunk.len();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(config.lr, net, grads);
        }
        losses.push(total / seen.max(1) as f64);
    }
    let net = net.valid();
    let (mut dice, mut iou) = (0.0, 0.0);
    for chunk in holdout.chunks(16) {
        let x = stack::<AB::InnerBackend>(
            &chunk.iter().map(|i| &images[*i]).collect::<Vec<_>>(),
            config.size,
            device,
        );
        let m = stack::<AB::InnerBackend>(
            &chunk.iter().map(|i| &masks[*i]).collect::<Vec<_>>(),
            config.size,
            device,
        );
        // Per-image Dice and IoU, averaged over the held-out images.
        for k in 0..chunk.len() {
            let (d, j) = dice_iou(
                net.forward(x.clone().narrow(0, k, 1)),
                m.clone().narrow(0, k, 1),
                config.threshold,
            );
            dice += d;
            iou += j;
        }
    }
    Ok(Fitted {
        net,
        dice: dice / holdout.len() as f64,
        iou: iou / holdout.len() as f64,
        train_images: train.len(),
        holdout_images: holdout.len(),
        losses,
    })
}

/// Binary masks (0 or 255 per pixel) of images prepared like the training images.
pub fn predict<B: ModelBackend>(
    net: &UNet<B>,
    images: &[Vec<f32>],
    size: usize,
    threshold: f64,
    device: &B::Device,
) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(16) {
        let x = stack::<B>(&chunk.iter().collect::<Vec<_>>(), size, device);
        let p: Vec<f32> = burn::tensor::activation::sigmoid(net.forward(x))
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        for img in p.chunks(size * size) {
            out.push(
                img.iter()
                    .map(|v| if *v as f64 > threshold { 255 } else { 0 })
                    .collect(),
            );
        }
    }
    out
}
