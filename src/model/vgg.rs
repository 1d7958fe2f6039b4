//! VGG-11 and VGG-16 (configurations A and D, without batch-norm), as in torchvision.

use super::NetConfig;
use super::layers::{Head, conv};
use crate::backend::ModelBackend;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// Output channels of each convolution; 0 marks a 2×2 max pooling.
pub(super) fn layout(depth: u32) -> &'static [usize] {
    match depth {
        11 => &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        _ => &[
            64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
        ],
    }
}

#[derive(Module, Debug)]
pub struct Vgg<B: Backend> {
    convs: Vec<Conv2d<B>>,
    /// After which convolutions (by index) a pooling follows.
    pool_after: Vec<usize>,
    pool: MaxPool2d,
    gap: AdaptiveAvgPool2d,
    fc1: Linear<B>,
    fc2: Linear<B>,
    dropout: Dropout,
    head: Head<B>,
}

impl<B: ModelBackend> Vgg<B> {
    pub fn new(config: &NetConfig, depth: u32, device: &B::Device) -> Self {
        let mut convs = Vec::new();
        let mut pool_after = Vec::new();
        let mut c_in = config.in_channels;
        for c in layout(depth) {
            if *c == 0 {
                pool_after.push(convs.len() - 1);
            } else {
                convs.push(conv(c_in, *c, 3, 1, 1, true, device));
                c_in = *c;
            }
        }
        Vgg {
            convs,
            pool_after,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            gap: AdaptiveAvgPool2dConfig::new([7, 7]).init(),
            fc1: LinearConfig::new(512 * 7 * 7, 4096).init(device),
            fc2: LinearConfig::new(4096, 4096).init(device),
            dropout: DropoutConfig::new(0.5).init(),
            head: Head::new(4096, config, device),
        }
    }

    pub fn features(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        for (i, c) in self.convs.iter().enumerate() {
            x = relu(c.forward(x));
            if self.pool_after.contains(&i) {
                x = self.pool.forward(x);
            }
        }
        x
    }

    pub fn classify(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self.gap.forward(features).flatten(1, 3);
        let x = self.dropout.forward(relu(self.fc1.forward(x)));
        let x = self.dropout.forward(relu(self.fc2.forward(x)));
        self.head.forward(x)
    }
}
