//! ResNet-18/34 (basic blocks) and ResNet-50 (bottleneck blocks, stride on the 3×3 convolution), as in
//! torchvision.

use super::NetConfig;
use super::layers::{ConvBn, Head};
use crate::backend::ModelBackend;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct ResidualBlock<B: Backend> {
    a: ConvBn<B>,
    b: ConvBn<B>,
    /// The third (expanding 1×1) convolution of a bottleneck block.
    c: Option<ConvBn<B>>,
    downsample: Option<ConvBn<B>>,
}

impl<B: ModelBackend> ResidualBlock<B> {
    fn basic(c_in: usize, c_out: usize, stride: usize, device: &B::Device) -> Self {
        ResidualBlock {
            a: ConvBn::new(c_in, c_out, 3, stride, 1, device),
            b: ConvBn::new(c_out, c_out, 3, 1, 1, device),
            c: None,
            downsample: (stride != 1 || c_in != c_out)
                .then(|| ConvBn::new(c_in, c_out, 1, stride, 0, device)),
        }
    }

    fn bottleneck(c_in: usize, width: usize, stride: usize, device: &B::Device) -> Self {
        let c_out = width * 4;
        ResidualBlock {
            a: ConvBn::new(c_in, width, 1, 1, 0, device),
            b: ConvBn::new(width, width, 3, stride, 1, device),
            c: Some(ConvBn::new(width, c_out, 1, 1, 0, device)),
            downsample: (stride != 1 || c_in != c_out)
                .then(|| ConvBn::new(c_in, c_out, 1, stride, 0, device)),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = self.a.forward_relu(x);
        match &self.c {
            Some(c) => c.forward_add_relu(self.b.forward_relu(out), identity),
            None => self.b.forward_add_relu(out, identity),
        }
    }
}

#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem: ConvBn<B>,
    pool: MaxPool2d,
    blocks: Vec<ResidualBlock<B>>,
    gap: AdaptiveAvgPool2d,
    head: Head<B>,
}

impl<B: ModelBackend> ResNet<B> {
    pub fn new(config: &NetConfig, depth: u32, device: &B::Device) -> Self {
        let (counts, bottleneck): ([usize; 4], bool) = match depth {
            18 => ([2, 2, 2, 2], false),
            34 => ([3, 4, 6, 3], false),
            _ => ([3, 4, 6, 3], true),
        };
        let mut blocks = Vec::new();
        let mut c_in = 64;
        for (stage, count) in counts.iter().enumerate() {
            let width = 64 << stage;
            for i in 0..*count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let block = if bottleneck {
                    ResidualBlock::bottleneck(c_in, width, stride, device)
                } else {
                    ResidualBlock::basic(c_in, width, stride, device)
                };
                c_in = if bottleneck { width * 4 } else { width };
                blocks.push(block);
            }
        }
        ResNet {
            stem: ConvBn::new(config.in_channels, 64, 7, 2, 3, device),
            pool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            blocks,
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: Head::new(c_in, config, device),
        }
    }

    pub fn features(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = self.pool.forward(self.stem.forward_relu(x));
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }

    pub fn classify(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.gap.forward(features).flatten(1, 3))
    }
}
