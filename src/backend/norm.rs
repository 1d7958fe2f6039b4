//! Batch normalisation of NCHW feature maps as one fused operation: two passes forward, two backward,
//! where burn's module composes it from about twenty whole-tensor operations.
//!
//! Models call it through [`ModelBackend::batch_norm`], an extension of burn's `Backend`: [`Cpu`] takes
//! the fused path for inference (running statistics), `Autodiff<Cpu>` for training (batch statistics, with
//! its own backward step), and every other backend keeps burn's module, so models stay generic. Both paths compute what burn's `BatchNorm` computes,
//! running-statistics update (biased variance, momentum) included.

use super::{Cpu, tensor, values};
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{TensorMetadata, TensorPrimitive};
use rayon::prelude::*;
type Train = Autodiff<Cpu>;

/// A backend the models run on: burn's `Backend` with the batch-norm it computes best.
pub trait ModelBackend: Backend {
    /// `bn.forward(x)` for `[batch, channels, height, width]`.
    fn batch_norm(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        bn.forward(x)
    }
}

/// A backend the models train on: autodiff over a backend the models also run on (validation and
/// prediction use the inner one).
pub trait TrainBackend: AutodiffBackend<InnerBackend: ModelBackend> + ModelBackend {}

impl<B> TrainBackend for B where B: AutodiffBackend<InnerBackend: ModelBackend> + ModelBackend {}

impl ModelBackend for Cpu {
    fn batch_norm(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        infer(bn, x)
    }
}

impl ModelBackend for Train {
    fn batch_norm(bn: &BatchNorm<Self>, x: Tensor<Self, 4>) -> Tensor<Self, 4> {
        train(bn, x)
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

/// Per-channel sizes of a feature map.
#[derive(Clone, Copy, Debug)]
struct Planes {
    batch: usize,
    channels: usize,
    area: usize,
}

impl Planes {
    fn of(x: &FlexTensor) -> Self {
        let s = x.shape();
        Planes {
            batch: s[0],
            channels: s[1],
            area: s[2] * s[3],
        }
    }

    /// Values per channel.
    fn count(&self) -> f64 {
        (self.batch * self.area) as f64
    }

    /// `f(image n, channel c)` summed over the batch, per channel: two sums in one pass.
    fn per_channel(&self, f: impl Fn(usize, usize) -> [f64; 2] + Sync) -> Vec<[f64; 2]> {
        (0..self.channels)
            .into_par_iter()
            .map(|c| {
                (0..self.batch).fold([0.0; 2], |[a, b], n| {
                    let [x, y] = f(n, c);
                    [a + x, b + y]
                })
            })
            .collect()
    }

    /// The values of channel `c` in image `n`.
    fn plane(&self, n: usize, c: usize) -> std::ops::Range<usize> {
        let at = (n * self.channels + c) * self.area;
        at..at + self.area
    }

    /// `dst` plane by plane: `f(channel, dst plane, offset of the plane)`.
    fn each_plane(&self, dst: &mut [f32], f: impl Fn(usize, &mut [f32], usize) + Sync) {
        if self.area == 0 {
            return;
        }
        let (channels, area) = (self.channels, self.area);
        dst.par_chunks_mut(area)
            .enumerate()
            .for_each(|(plane, d)| f(plane % channels, d, plane * area));
    }
}

/// Batch mean and biased variance per channel, in one pass (sums of x and x² in f64, whose 53 bits keep
/// E[x²] − E[x]² exact enough for f32 activations).
fn statistics(x: &[f32], p: Planes) -> (Vec<f64>, Vec<f64>) {
    let count = p.count().max(1.0);
    p.per_channel(|n, c| {
        x[p.plane(n, c)].iter().fold([0.0; 2], |[s, q], &v| {
            let v = v as f64;
            [s + v, q + v * v]
        })
    })
    .into_iter()
    .map(|[s, q]| {
        let mean = s / count;
        (mean, (q / count - mean * mean).max(0.0))
    })
    .unzip()
}

/// `(x − mean[c]) · scale[c] + shift[c]` per channel (centred first, so that a tiny variance does not
/// cancel two large terms).
fn normalise(x: &[f32], p: Planes, mean: &[f32], scale: &[f32], shift: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    p.each_plane(&mut y, |c, dst, at| {
        let (m, s, t) = (mean[c], scale[c], shift[c]);
        for (d, &v) in dst.iter_mut().zip(&x[at..]) {
            *d = (v - m) * s + t;
        }
    });
    y
}

fn vector<B: Backend>(tensor: Tensor<B, 1>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec()
        .unwrap_or_default()
}

/// Inference: running statistics, one pass.
fn infer(bn: &BatchNorm<Cpu>, x: Tensor<Cpu, 4>) -> Tensor<Cpu, 4> {
    let primitive = x.clone().into_primitive().tensor();
    let Some(xv) = values(&primitive) else {
        return bn.forward(x);
    };
    let p = Planes::of(&primitive);
    let (mean, var) = (
        vector(bn.running_mean.value()),
        vector(bn.running_var.value()),
    );
    let (gamma, beta) = (vector(bn.gamma.val()), vector(bn.beta.val()));
    let scale: Vec<f32> = (0..p.channels)
        .map(|c| gamma[c] / (var[c] + bn.epsilon as f32).sqrt())
        .collect();
    let y = tensor(normalise(&xv, p, &mean, &scale, &beta), primitive.shape());
    Tensor::<Cpu, 4>::from_primitive(TensorPrimitive::Float(y))
}

/// Training: batch statistics, the running statistics updated, and a backward step.
fn train(bn: &BatchNorm<Train>, x: Tensor<Train, 4>) -> Tensor<Train, 4> {
    let device = x.device();
    let (gamma, beta) = (bn.gamma.val(), bn.beta.val());
    let x = x.into_primitive().tensor();
    let Some(xv) = values(&x.primitive) else {
        let x = Tensor::<Train, 4>::from_primitive(TensorPrimitive::Float(x));
        return bn.forward(x);
    };
    let p = Planes::of(&x.primitive);
    let (mean, var) = statistics(&xv, p);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|v| 1.0 / (*v as f32 + bn.epsilon as f32).sqrt())
        .collect();
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let gamma_values = vector(gamma.clone().inner());
    let beta_values = vector(beta.clone().inner());
    let scale: Vec<f32> = (0..p.channels)
        .map(|c| gamma_values[c] * inv_std[c])
        .collect();
    let y = tensor(
        normalise(&xv, p, &mean32, &scale, &beta_values),
        x.primitive.shape(),
    );

    let update = |state: &burn::module::RunningState<Tensor<Train, 1>>, batch: &[f64]| {
        let batch: Vec<f32> = batch.iter().map(|&v| v as f32).collect();
        let batch = Tensor::<Train, 1>::from_floats(batch.as_slice(), &device);
        let old = state.value_sync().to_device(&device);
        state.update(
            old.mul_scalar(1.0 - bn.momentum)
                .add(batch.mul_scalar(bn.momentum))
                .detach(),
        );
    };
    update(&bn.running_mean, &mean);
    update(&bn.running_var, &var);

    let (gamma, beta) = (
        gamma.into_primitive().tensor(),
        beta.into_primitive().tensor(),
    );
    let out = match NormBackward
        .prepare::<burn::backend::autodiff::checkpoint::strategy::NoCheckpointing>([
            x.node.clone(),
            gamma.node.clone(),
            beta.node.clone(),
        ])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            NormState {
                x: x.primitive.clone(),
                mean: mean32,
                inv_std,
                gamma: gamma_values,
            },
            y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::<Train, 4>::from_primitive(TensorPrimitive::Float(out))
}

/// What the backward step needs: the input and the per-channel batch mean, 1/σ and γ.
#[derive(Clone, Debug)]
struct NormState {
    x: FlexTensor,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Cpu, 3> for NormBackward {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let dy = grads.consume::<Cpu>(&ops.node);
        let s = ops.state;
        let (Some(xv), Some(dyv)) = (values(&s.x), values(&dy)) else {
            unreachable!("batch-norm state and gradient are f32 tensors")
        };
        let p = Planes::of(&s.x);
        // Σ dy and Σ dy·x̂ per channel: the gradients of β and γ.
        let sums = p.per_channel(|n, c| {
            let r = p.plane(n, c);
            let (m, k) = (s.mean[c], s.inv_std[c]);
            dyv[r.clone()]
                .iter()
                .zip(&xv[r])
                .fold([0.0; 2], |[a, b], (&g, &v)| {
                    [a + g as f64, b + g as f64 * ((v - m) * k) as f64]
                })
        });
        let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) =
            sums.into_iter().map(|[a, b]| (a, b)).unzip();
        if let Some(node) = x_node {
            // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂))
            let count = p.count().max(1.0);
            let mut dx = vec![0.0; xv.len()];
            p.each_plane(&mut dx, |c, dst, at| {
                let (m, k) = (s.mean[c], s.inv_std[c]);
                let (mean_dy, mean_dy_xhat) =
                    ((sum_dy[c] / count) as f32, (sum_dy_xhat[c] / count) as f32);
                let g = s.gamma[c] * k;
                for ((d, &v), &gy) in dst.iter_mut().zip(&xv[at..]).zip(&dyv[at..]) {
                    *d = g * (gy - mean_dy - (v - m) * k * mean_dy_xhat);
                }
            });
            grads.register::<Cpu>(node.id, tensor(dx, s.x.shape()));
        }
        let per_channel =
            |sums: &[f64]| tensor(sums.iter().map(|&v| v as f32).collect(), [sums.len()]);
        if let Some(node) = gamma_node {
            grads.register::<Cpu>(node.id, per_channel(&sum_dy_xhat));
        }
        if let Some(node) = beta_node {
            grads.register::<Cpu>(node.id, per_channel(&sum_dy));
        }
    }
}
