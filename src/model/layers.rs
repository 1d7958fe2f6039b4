//! Building blocks shared by the architectures.

use super::NetConfig;
use crate::backend::ModelBackend;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;

/// A convolution without bias followed by batch-norm.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: BatchNorm<B>,
}

impl<B: ModelBackend> ConvBn<B> {
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        device: &B::Device,
    ) -> Self {
        ConvBn {
            conv: conv(c_in, c_out, kernel, stride, padding, false, device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        B::conv_batch_norm(&self.conv, &self.bn, x, false)
    }

    /// `relu(self.forward(x))`, as one operation where the backend fuses them.
    pub fn forward_relu(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        B::conv_batch_norm(&self.conv, &self.bn, x, true)
    }

    /// `relu(self.forward(x) + residual)`, as one operation where the backend fuses them.
    pub fn forward_add_relu(&self, x: Tensor<B, 4>, residual: Tensor<B, 4>) -> Tensor<B, 4> {
        B::conv_batch_norm_add_relu(&self.conv, &self.bn, x, residual)
    }
}

pub fn conv<B: Backend>(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    device: &B::Device,
) -> Conv2d<B> {
    Conv2dConfig::new([c_in, c_out], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(
            padding, padding, padding, padding,
        ))
        .with_bias(bias)
        .init(device)
}

/// The classification head: hidden layers (dense → ReLU → batch-norm), dropout, then the output layer.
#[derive(Module, Debug)]
pub struct Head<B: Backend> {
    hidden: Vec<(Linear<B>, BatchNorm<B>)>,
    dropout: Dropout,
    output: Linear<B>,
}

impl<B: ModelBackend> Head<B> {
    pub fn new(features: usize, config: &NetConfig, device: &B::Device) -> Self {
        let mut hidden = Vec::new();
        let mut d_in = features;
        for width in &config.head {
            hidden.push((
                LinearConfig::new(d_in, *width).init(device),
                BatchNormConfig::new(*width).init(device),
            ));
            d_in = *width;
        }
        Head {
            hidden,
            dropout: DropoutConfig::new(config.dropout).init(),
            output: LinearConfig::new(d_in, config.classes).init(device),
        }
    }

    pub fn forward(&self, mut x: Tensor<B, 2>) -> Tensor<B, 2> {
        for (linear, bn) in &self.hidden {
            x = bn.forward(burn::tensor::activation::relu(linear.forward(x)));
        }
        self.output.forward(self.dropout.forward(x))
    }
}
