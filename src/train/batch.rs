//! Batch assembly: 8-bit prepared images → normalised, optionally augmented float tensors.

use crate::data::gray::Gray;
use crate::data::transform::{augment, normalize};
use crate::study::{Normalize, Preprocess};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub struct Batcher {
    size: usize,
    channels: usize,
    normalize: Normalize,
    augment: Option<crate::study::Augment>,
    /// Mean and standard deviation of the training images (used by `normalize train_stats`).
    pub train_stats: (f64, f64),
}

impl Batcher {
    pub fn new(pre: &Preprocess, size: usize, channels: usize, train: &[Vec<u8>]) -> Self {
        let (mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0usize);
        for img in train {
            for v in img {
                let x = *v as f64 / 255.0;
                sum += x;
                sq += x * x;
            }
            n += img.len();
        }
        let mean = sum / n.max(1) as f64;
        let std = (sq / n.max(1) as f64 - mean * mean).max(0.0).sqrt();
        Batcher {
            size,
            channels,
            normalize: pre.normalize.clone(),
            augment: pre.augment.clone(),
            train_stats: (mean, std),
        }
    }

    /// With the same statistics as training, for evaluation with a trained model.
    pub fn with_stats(
        pre: &Preprocess,
        size: usize,
        channels: usize,
        train_stats: (f64, f64),
    ) -> Self {
        Batcher {
            size,
            channels,
            normalize: pre.normalize.clone(),
            augment: pre.augment.clone(),
            train_stats,
        }
    }

    /// `[n, channels, size, size]`; `augment_epoch` = (seed, epoch) augments each image from a generator
    /// seeded by the seed, the epoch and the image's index.
    pub fn batch<B: Backend>(
        &self,
        images: &[Vec<u8>],
        indices: &[usize],
        augment_epoch: Option<(u64, u32)>,
        device: &B::Device,
    ) -> Tensor<B, 4> {
        let plane = self.size * self.size;
        let mut data = Vec::with_capacity(indices.len() * self.channels * plane);
        for i in indices {
            let mut g = Gray::from_u8(self.size, self.size, &images[*i]);
            if let (Some(spec), Some((seed, epoch))) = (&self.augment, augment_epoch) {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    seed ^ ((epoch as u64) << 32) ^ (*i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
                );
                g = augment(&g, spec, &mut rng);
            }
            if self.normalize == Normalize::Imagenet {
                // The gray plane stands for each colour channel, normalised with that channel's statistics.
                for c in 0..self.channels {
                    let (mean, std) = crate::study::imagenet_stats(c, self.channels);
                    data.extend(g.data.iter().map(|v| ((*v as f64 - mean) / std) as f32));
                }
                continue;
            }
            normalize(&mut g, &self.normalize, Some(self.train_stats));
            for _ in 0..self.channels {
                data.extend_from_slice(&g.data);
            }
        }
        Tensor::from_data(
            TensorData::new(data, [indices.len(), self.channels, self.size, self.size]),
            device,
        )
    }
}
