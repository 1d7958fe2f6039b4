//! DenseNet-121 (growth rate 32, blocks of 6, 12, 24 and 16 layers, bottleneck width 4 × growth), as in
//! torchvision.

use super::NetConfig;
use super::layers::{Head, conv};
use crate::backend::ModelBackend;
use crate::backend::batch_norm_relu;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;

const GROWTH: usize = 32;
pub(super) const BLOCKS: [usize; 4] = [6, 12, 24, 16];

#[derive(Module, Debug)]
pub struct DenseLayer<B: Backend> {
    norm1: BatchNorm<B>,
    conv1: Conv2d<B>,
    norm2: BatchNorm<B>,
    conv2: Conv2d<B>,
}

#[derive(Module, Debug)]
pub struct Transition<B: Backend> {
    norm: BatchNorm<B>,
    conv: Conv2d<B>,
}

#[derive(Module, Debug)]
pub struct DenseNet<B: Backend> {
    conv0: Conv2d<B>,
    norm0: BatchNorm<B>,
    pool0: MaxPool2d,
    blocks: Vec<Vec<DenseLayer<B>>>,
    transitions: Vec<Transition<B>>,
    avg: AvgPool2d,
    norm5: BatchNorm<B>,
    gap: AdaptiveAvgPool2d,
    head: Head<B>,
}

impl<B: ModelBackend> DenseNet<B> {
    pub fn new(config: &NetConfig, device: &B::Device) -> Self {
        let mut features = 64;
        let mut blocks = Vec::new();
        let mut transitions = Vec::new();
        for (b, layers) in BLOCKS.iter().enumerate() {
            let mut block = Vec::new();
            for _ in 0..*layers {
                block.push(DenseLayer {
                    norm1: BatchNormConfig::new(features).init(device),
                    conv1: conv(features, 4 * GROWTH, 1, 1, 0, false, device),
                    norm2: BatchNormConfig::new(4 * GROWTH).init(device),
                    conv2: conv(4 * GROWTH, GROWTH, 3, 1, 1, false, device),
                });
                features += GROWTH;
            }
            blocks.push(block);
            if b + 1 < BLOCKS.len() {
                transitions.push(Transition {
                    norm: BatchNormConfig::new(features).init(device),
                    conv: conv(features, features / 2, 1, 1, 0, false, device),
                });
                features /= 2;
            }
        }
        DenseNet {
            conv0: conv(config.in_channels, 64, 7, 2, 3, false, device),
            norm0: BatchNormConfig::new(64).init(device),
            pool0: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            transitions,
            avg: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            norm5: BatchNormConfig::new(features).init(device),
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: Head::new(features, config, device),
        }
    }

    pub fn features(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = self
            .pool0
            .forward(batch_norm_relu(&self.norm0, self.conv0.forward(x)));
        for (b, block) in self.blocks.iter().enumerate() {
            for layer in block {
                let y = batch_norm_relu(&layer.norm1, x.clone());
                let y = B::conv_batch_norm(&layer.conv1, &layer.norm2, y, true);
                let y = layer.conv2.forward(y);
                x = Tensor::cat(vec![x, y], 1);
            }
            if let Some(t) = self.transitions.get(b) {
                x = self
                    .avg
                    .forward(t.conv.forward(batch_norm_relu(&t.norm, x)));
            }
        }
        batch_norm_relu(&self.norm5, x)
    }

    pub fn classify(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.gap.forward(features).flatten(1, 3))
    }
}
