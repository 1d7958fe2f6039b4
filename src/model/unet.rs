//! The lung segmenter: a U-Net (double 3×3 convolutions with batch-norm, `depth` poolings, transposed
//! convolutions up, skip connections) that outputs one logit per pixel, trained with Dice + BCE.

use super::layers::ConvBn;
use crate::backend::ModelBackend;
use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

#[derive(Module, Debug)]
pub struct DoubleConv<B: Backend> {
    a: ConvBn<B>,
    b: ConvBn<B>,
}

impl<B: ModelBackend> DoubleConv<B> {
    fn new(c_in: usize, c_out: usize, device: &B::Device) -> Self {
        DoubleConv {
            a: ConvBn::new(c_in, c_out, 3, 1, 1, device),
            b: ConvBn::new(c_out, c_out, 3, 1, 1, device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.b.forward_relu(self.a.forward_relu(x))
    }
}

#[derive(Module, Debug)]
pub struct UNet<B: Backend> {
    down: Vec<DoubleConv<B>>,
    pool: MaxPool2d,
    up: Vec<ConvTranspose2d<B>>,
    merge: Vec<DoubleConv<B>>,
    out: Conv2d<B>,
}

impl<B: ModelBackend> UNet<B> {
    /// `depth` poolings (inputs must be divisible by 2^depth); `base` channels at full resolution.
    pub fn new(in_channels: usize, depth: usize, base: usize, device: &B::Device) -> Self {
        let _rng = super::hold_backend_rng();
        let widths: Vec<usize> = (0..=depth).map(|i| base << i).collect();
        let mut down = Vec::new();
        let mut c_in = in_channels;
        for w in &widths {
            down.push(DoubleConv::new(c_in, *w, device));
            c_in = *w;
        }
        let mut up = Vec::new();
        let mut merge = Vec::new();
        for i in (0..depth).rev() {
            up.push(
                ConvTranspose2dConfig::new([widths[i + 1], widths[i]], [2, 2])
                    .with_stride([2, 2])
                    .init(device),
            );
            merge.push(DoubleConv::new(2 * widths[i], widths[i], device));
        }
        UNet {
            down,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            up,
            merge,
            out: super::layers::conv(widths[0], 1, 1, 1, 0, true, device),
        }
    }

    /// Logits `[batch, 1, height, width]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut skips = Vec::new();
        let mut x = x;
        for (i, block) in self.down.iter().enumerate() {
            x = block.forward(x);
            if i + 1 < self.down.len() {
                skips.push(x.clone());
                x = self.pool.forward(x);
            }
        }
        for (up, merge) in self.up.iter().zip(&self.merge) {
            let skip = skips.pop().expect("one skip per level");
            x = merge.forward(Tensor::cat(vec![skip, up.forward(x)], 1));
        }
        self.out.forward(x)
    }
}

/// Mean binary cross-entropy on logits plus (1 − Dice) of the probabilities, per image then averaged.
pub fn dice_bce<B: Backend>(logits: Tensor<B, 4>, masks: Tensor<B, 4>) -> Tensor<B, 1> {
    let bce = (logits.clone().clamp_min(0.0) - logits.clone() * masks.clone()
        + (logits.clone().abs().neg().exp() + 1.0).log())
    .mean();
    let p = sigmoid(logits);
    let batch = p.dims()[0];
    let inter: Tensor<B, 2> = (p.clone() * masks.clone())
        .reshape([batch as i32, -1])
        .sum_dim(1);
    let total: Tensor<B, 2> =
        p.reshape([batch as i32, -1]).sum_dim(1) + masks.reshape([batch as i32, -1]).sum_dim(1);
    let dice = (inter * 2.0 + 1.0) / (total + 1.0);
    bce + (dice.mean().neg() + 1.0)
}

/// Dice and IoU of thresholded predictions against masks (both `[n, 1, h, w]`).
pub fn dice_iou<B: Backend>(
    logits: Tensor<B, 4>,
    masks: Tensor<B, 4>,
    threshold: f64,
) -> (f64, f64) {
    let pred: Vec<f32> = sigmoid(logits)
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default();
    let truth: Vec<f32> = masks
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap_or_default();
    let (mut inter, mut p_sum, mut t_sum) = (0.0, 0.0, 0.0);
    for (p, t) in pred.iter().zip(&truth) {
        let (p, t) = (
            (*p as f64 > threshold) as u8 as f64,
            (*t > 0.5) as u8 as f64,
        );
        inter += p * t;
        p_sum += p;
        t_sum += t;
    }
    let dice = if p_sum + t_sum == 0.0 {
        1.0
    } else {
        2.0 * inter / (p_sum + t_sum)
    };
    let union = p_sum + t_sum - inter;
    let iou = if union == 0.0 { 1.0 } else { inter / union };
    (dice, iou)
}
