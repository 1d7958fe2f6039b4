//! [`ModelBackend`], the extension of burn's `Backend` the models and their training are generic over: the
//! operations a backend may compute better than burn composes them (batch-norm with its neighbours: the
//! convolution before it, ReLU and a residual after it; Adam's step). Each has burn's composition as its
//! default, so every backend runs the models; [`Cpu`] and `Autodiff<Cpu>` override them with the fused
//! kernels of `norm` and `adam`.

use super::Cpu;
use super::adam::{self, FusedAdam};
use super::norm;
use burn::backend::Autodiff;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::optim::{AdamState, LearningRate};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::backend::AutodiffBackend;

/// A backend the models run on: burn's `Backend` with the operations it computes best.
pub trait ModelBackend: Backend {
    /// `bn.forward(x)` for `[batch, channels, height, width]`.
    fn batch_norm(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        bn.forward(x)
    }

    /// `relu(bn.forward(x))`.
    fn batch_norm_relu(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        relu(Self::batch_norm(bn, x))
    }

    /// `bn.forward(conv.forward(x))`, then ReLU where `then_relu`.
    fn conv_batch_norm(
        conv: &Conv2d<Self>,
        bn: &BatchNorm<Self>,
        x: Tensor<Self, 4>,
        then_relu: bool,
    ) -> Tensor<Self, 4> {
        let y = conv.forward(x);
        match then_relu {
            true => Self::batch_norm_relu(bn, y),
            false => Self::batch_norm(bn, y),
        }
    }

    /// `relu(bn.forward(conv.forward(x)) + residual)`: the end of a residual block.
    fn conv_batch_norm_add_relu(
        conv: &Conv2d<Self>,
        bn: &BatchNorm<Self>,
        x: Tensor<Self, 4>,
        residual: Tensor<Self, 4>,
    ) -> Tensor<Self, 4> {
        relu(Self::conv_batch_norm(conv, bn, x, false) + residual)
    }

    /// One step of `adam` on one parameter tensor: the updated parameter and moments.
    fn adam_step<const D: usize>(
        adam: &FusedAdam,
        lr: LearningRate,
        param: Tensor<Self, D>,
        grad: Tensor<Self, D>,
        state: Option<AdamState<Self, D>>,
    ) -> (Tensor<Self, D>, Option<AdamState<Self, D>>) {
        adam.composed_step(lr, param, grad, state)
    }
}

/// A backend the models train on: autodiff over a backend the models also run on (validation and
/// prediction use the inner one, and so does the optimiser).
pub trait TrainBackend: AutodiffBackend<InnerBackend: ModelBackend> + ModelBackend {}

impl<B> TrainBackend for B where B: AutodiffBackend<InnerBackend: ModelBackend> + ModelBackend {}

impl ModelBackend for Cpu {
    fn batch_norm(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        norm::infer(bn, x, false)
    }

    fn batch_norm_relu(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        norm::infer(bn, x, true)
    }

    fn conv_batch_norm(
        conv: &Conv2d<Self>,
        bn: &BatchNorm<Self>,
        x: Tensor<Self, 4>,
        then_relu: bool,
    ) -> Tensor<Self, 4> {
        norm::conv_batch_norm(conv, bn, x, then_relu)
    }

    fn conv_batch_norm_add_relu(
        conv: &Conv2d<Self>,
        bn: &BatchNorm<Self>,
        x: Tensor<Self, 4>,
        residual: Tensor<Self, 4>,
    ) -> Tensor<Self, 4> {
        norm::conv_batch_norm_add_relu(conv, bn, x, residual)
    }

    fn adam_step<const D: usize>(
        adam: &FusedAdam,
        lr: LearningRate,
        param: Tensor<Self, D>,
        grad: Tensor<Self, D>,
        state: Option<AdamState<Self, D>>,
    ) -> (Tensor<Self, D>, Option<AdamState<Self, D>>) {
        adam::fused(adam, lr, param, grad, state)
    }
}

impl ModelBackend for Autodiff<Cpu> {
    fn batch_norm(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        norm::train(bn, x, false)
    }

    fn batch_norm_relu(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        norm::train(bn, x, true)
    }

    fn conv_batch_norm_add_relu(
        conv: &Conv2d<Self>,
        bn: &BatchNorm<Self>,
        x: Tensor<Self, 4>,
        residual: Tensor<Self, 4>,
    ) -> Tensor<Self, 4> {
        norm::train_add_relu(bn, conv.forward(x), residual)
    }
}

impl ModelBackend for burn::backend::Flex {}
impl ModelBackend for Autodiff<burn::backend::Flex> {}
#[cfg(feature = "cuda")]
impl ModelBackend for burn::backend::Cuda {}
#[cfg(feature = "cuda")]
impl ModelBackend for Autodiff<burn::backend::Cuda> {}

/// `bn.forward(x)`, fused where the backend allows.
pub fn batch_norm<B: ModelBackend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    B::batch_norm(bn, x)
}

/// `relu(bn.forward(x))`, fused where the backend allows.
pub fn batch_norm_relu<B: ModelBackend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    B::batch_norm_relu(bn, x)
}
