//! Batch normalisation of NCHW feature maps as one fused operation: two passes forward, two backward,
//! where burn's module composes it from about twenty whole-tensor operations.
//!
//! Models call it through [`super::ModelBackend::batch_norm`]: [`Cpu`] takes the fused path for inference
//! (running statistics), `Autodiff<Cpu>` for training (batch statistics, with its own backward step), and
//! every other backend keeps burn's module, so models stay generic. Both paths compute what burn's
//! `BatchNorm` computes, running-statistics update (biased variance, momentum) included.

use super::conv::Epilogue;
use super::{Cpu, by_planes, owned, relu_of, tensor, values};
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{TensorMetadata, TensorPrimitive};
use multiversion::multiversion;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use sums::{Relu, gradient_sums, sum_and_squares};
type Train = Autodiff<Cpu>;

mod sums;

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
        let planes: Vec<[f64; 2]> = (0..self.batch * self.channels)
            .into_par_iter()
            .map(|plane| f(plane / self.channels, plane % self.channels))
            .collect();
        self.channel_totals(&planes)
    }

    /// [`Planes::per_channel`] of sums taken plane by plane over `values`, which `f(channel, plane,
    /// offset of the plane)` may rewrite as it reads them.
    fn per_plane(
        &self,
        values: &mut [f32],
        f: impl Fn(usize, &mut [f32], usize) -> [f64; 2] + Sync,
    ) -> Vec<[f64; 2]> {
        if self.area == 0 {
            return vec![[0.0; 2]; self.channels];
        }
        let (channels, area) = (self.channels, self.area);
        let planes: Vec<[f64; 2]> = values
            .par_chunks_mut(area)
            .enumerate()
            .map(|(plane, v)| f(plane % channels, v, plane * area))
            .collect();
        self.channel_totals(&planes)
    }

    /// The sums of each plane (image-major) added per channel, in image order.
    fn channel_totals(&self, planes: &[[f64; 2]]) -> Vec<[f64; 2]> {
        (0..self.channels)
            .map(|c| {
                (0..self.batch).fold([0.0; 2], |[a, b], n| {
                    let [x, y] = planes[n * self.channels + c];
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
    p.per_channel(|n, c| sum_and_squares(&x[p.plane(n, c)]))
        .into_iter()
        .map(|[s, q]| {
            let mean = s / count;
            (mean, (q / count - mean * mean).max(0.0))
        })
        .unzip()
}

/// `(x − mean[c]) · scale[c] + shift[c]` per channel (centred first, so that a tiny variance does not
/// cancel two large terms), plus `residual` (of x's shape) where given, then ReLU where `then_relu`.
fn normalise(
    x: &[f32],
    p: Planes,
    (mean, scale, shift): (&[f32], &[f32], &[f32]),
    residual: Option<&[f32]>,
    then_relu: bool,
) -> Vec<f32> {
    by_planes(p.batch * p.channels, p.area, |plane, dst| {
        let c = plane % p.channels;
        let at = plane * p.area..(plane + 1) * p.area;
        let residual = residual.map(|r| &r[at.clone()]);
        affine_plane(
            &x[at],
            dst,
            (mean[c], scale[c], shift[c]),
            residual,
            then_relu,
        )
    })
}

/// `(v − m) · s + t` for each value `v` of `src`, plus the value at the same place of `residual`, into
/// `dst`, then ReLU where `then_relu`; the number of values written.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
fn affine_plane(
    src: &[f32],
    dst: &mut [MaybeUninit<f32>],
    (m, s, t): (f32, f32, f32),
    residual: Option<&[f32]>,
    then_relu: bool,
) -> usize {
    let pairs = dst.iter_mut().zip(src);
    match (residual, then_relu) {
        (None, true) => pairs.for_each(|(d, &v)| _ = d.write(relu_of((v - m) * s + t))),
        (None, false) => pairs.for_each(|(d, &v)| _ = d.write((v - m) * s + t)),
        (Some(r), true) => pairs
            .zip(r)
            .for_each(|((d, &v), &r)| _ = d.write(relu_of((v - m) * s + t + r))),
        (Some(r), false) => pairs
            .zip(r)
            .for_each(|((d, &v), &r)| _ = d.write((v - m) * s + t + r)),
    }
    dst.len()
        .min(src.len())
        .min(residual.map_or(usize::MAX, <[f32]>::len))
}

/// Batch-norm's input gradient over one plane, written over the output gradient `dy`:
/// `g · (dy − mean_dy − (x − m) · k · mean_dy_xhat)`, with `dy` through `relu` where given.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
fn input_gradient_plane(
    dy: &mut [f32],
    x: &[f32],
    (m, k, g): (f32, f32, f32),
    (mean_dy, mean_dy_xhat): (f32, f32),
    relu: Option<Relu>,
) {
    let pairs = dy.iter_mut().zip(x);
    match relu {
        Some(r) => pairs
            .for_each(|(d, &v)| *d = g * (r.pass(*d, v, m) - mean_dy - (v - m) * k * mean_dy_xhat)),
        None => pairs.for_each(|(d, &v)| *d = g * (*d - mean_dy - (v - m) * k * mean_dy_xhat)),
    }
}

fn vector<B: Backend>(tensor: Tensor<B, 1>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .into_vec()
        .unwrap_or_default()
}

/// The running statistics and affine parameters of an inference batch-norm: `(mean, γ/σ, β)`.
fn running_affine(bn: &BatchNorm<Cpu>) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mean, var) = (
        vector(bn.running_mean.value()),
        vector(bn.running_var.value()),
    );
    let gamma = vector(bn.gamma.val());
    let scale = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + bn.epsilon as f32).sqrt())
        .collect();
    (mean, scale, vector(bn.beta.val()))
}

/// Inference: running statistics, one pass (ReLU in the same pass where `then_relu`).
pub(super) fn infer(bn: &BatchNorm<Cpu>, x: Tensor<Cpu, 4>, then_relu: bool) -> Tensor<Cpu, 4> {
    let primitive = x.clone().into_primitive().tensor();
    let Some(xv) = values(&primitive) else {
        let y = bn.forward(x);
        return if then_relu { relu(y) } else { y };
    };
    let p = Planes::of(&primitive);
    let (mean, scale, beta) = running_affine(bn);
    let y = normalise(&xv, p, (&mean, &scale, &beta), None, then_relu);
    Tensor::<Cpu, 4>::from_primitive(TensorPrimitive::Float(tensor(y, primitive.shape())))
}

/// `bn.forward(conv.forward(x))` for inference, then ReLU where `then_relu`: one convolution where
/// [`folded`] applies.
pub(super) fn conv_batch_norm(
    conv: &Conv2d<Cpu>,
    bn: &BatchNorm<Cpu>,
    x: Tensor<Cpu, 4>,
    then_relu: bool,
) -> Tensor<Cpu, 4> {
    match folded(conv, bn, &x, None, then_relu) {
        Some(y) => Tensor::from_primitive(TensorPrimitive::Float(y)),
        None => {
            let y = conv.forward(x);
            infer(bn, y, then_relu)
        }
    }
}

/// `relu(bn.forward(conv.forward(x)) + residual)` for inference, the end of a residual block: one
/// convolution where [`folded`] applies.
pub(super) fn conv_batch_norm_add_relu(
    conv: &Conv2d<Cpu>,
    bn: &BatchNorm<Cpu>,
    x: Tensor<Cpu, 4>,
    residual: Tensor<Cpu, 4>,
) -> Tensor<Cpu, 4> {
    let r = residual.clone().into_primitive().tensor();
    let fused = values(&r).and_then(|rv| folded(conv, bn, &x, Some(&rv), true));
    match fused {
        Some(y) if y.shape() == r.shape() => Tensor::from_primitive(TensorPrimitive::Float(y)),
        _ => relu(conv_batch_norm(conv, bn, x, false) + residual),
    }
}

/// Inference of a convolution and the batch-norm after it as one convolution: batch-norm is an affine map
/// per output channel (`γ/σ · v + β − μ · γ/σ`, the convolution's own bias folded into the shift), applied
/// with the residual and ReLU to each output tile as the product writes it, so that none takes a pass of
/// its own. `None` where the convolution's kernels do not apply (asymmetric padding, groups, other element
/// types) or the residual does not have the output's number of values.
fn folded(
    conv: &Conv2d<Cpu>,
    bn: &BatchNorm<Cpu>,
    x: &Tensor<Cpu, 4>,
    residual: Option<&[f32]>,
    then_relu: bool,
) -> Option<FlexTensor> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    let (mean, scale, beta) = running_affine(bn);
    let own_bias = conv.bias.as_ref().map(|b| vector(b.val()));
    let shift: Vec<f32> = (0..scale.len())
        .map(|c| beta[c] + (own_bias.as_ref().map_or(0.0, |b| b[c]) - mean[c]) * scale[c])
        .collect();
    let epilogue = Epilogue {
        scale: Some(&scale),
        bias: Some(&shift),
        residual,
        relu: then_relu,
    };
    let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
    let x = x.clone().into_primitive().tensor();
    let weight = conv.weight.val().into_primitive().tensor();
    super::conv::conv2d_fused(&x, &weight, epilogue, &options)
}

/// Training: batch statistics, the running statistics updated, and a backward step; with ReLU in the same
/// passes where `then_relu` (the backward step masks the gradient by the output).
pub(super) fn train(
    bn: &BatchNorm<Train>,
    x: Tensor<Train, 4>,
    then_relu: bool,
) -> Tensor<Train, 4> {
    train_with(bn, x, None, then_relu)
}

/// Training of `relu(bn.forward(x) + residual)`, the end of a residual block, in the passes of [`train`]:
/// the residual added and ReLU applied as the output is written; backward, the masked output gradient is
/// the residual's gradient.
pub(super) fn train_add_relu(
    bn: &BatchNorm<Train>,
    x: Tensor<Train, 4>,
    residual: Tensor<Train, 4>,
) -> Tensor<Train, 4> {
    train_with(bn, x, Some(residual), true)
}

fn train_with(
    bn: &BatchNorm<Train>,
    x: Tensor<Train, 4>,
    residual: Option<Tensor<Train, 4>>,
    then_relu: bool,
) -> Tensor<Train, 4> {
    let device = x.device();
    let (gamma, beta) = (bn.gamma.val(), bn.beta.val());
    let residual = residual.map(|r| r.into_primitive().tensor());
    let x = x.into_primitive().tensor();
    // `Some(None)` without a residual, `None` where one cannot be read here (another element type or shape).
    let residual_values = match &residual {
        None => Some(None),
        Some(r) if r.primitive.shape() == x.primitive.shape() => values(&r.primitive).map(Some),
        Some(_) => None,
    };
    let (Some(xv), Some(residual_values)) = (values(&x.primitive), residual_values) else {
        let x = Tensor::<Train, 4>::from_primitive(TensorPrimitive::Float(x));
        let y = bn.forward(x);
        let y = match residual {
            Some(r) => y + Tensor::from_primitive(TensorPrimitive::Float(r)),
            None => y,
        };
        return if then_relu { relu(y) } else { y };
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
    let affine = (&mean32[..], &scale[..], &beta_values[..]);
    let y = normalise(&xv, p, affine, residual_values.as_deref(), then_relu);
    let y = tensor(y, x.primitive.shape());

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
    let relu = match (then_relu, &residual) {
        (false, _) => ReluMask::None,
        (true, None) => ReluMask::Recomputed { shift: beta_values },
        (true, Some(_)) => ReluMask::Output(y.clone()),
    };
    let state = NormState {
        x: x.primitive.clone(),
        mean: mean32,
        inv_std,
        gamma: gamma_values,
        relu,
    };
    // The backward step is recorded where any parent is tracked.
    macro_rules! tracked {
        ($parents:expr) => {
            match NormBackward
                .prepare::<burn::backend::autodiff::checkpoint::strategy::NoCheckpointing>($parents)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(state, y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        };
    }
    let (x, gamma, beta) = (x.node, gamma.node, beta.node);
    let out = match residual {
        Some(r) => tracked!([x, gamma, beta, r.node]),
        None => tracked!([x, gamma, beta]),
    };
    Tensor::<Train, 4>::from_primitive(TensorPrimitive::Float(out))
}

/// What the backward step needs: the input and the per-channel batch mean, 1/σ and γ, and how to find
/// ReLU's mask where a ReLU followed.
#[derive(Clone, Debug)]
struct NormState {
    x: FlexTensor,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    gamma: Vec<f32>,
    relu: ReluMask,
}

/// Where a ReLU's mask comes from in the backward step.
#[derive(Clone, Debug)]
enum ReluMask {
    /// No ReLU followed.
    None,
    /// ReLU of the normalised values: the forward map recomputed from x, which the backward step reads
    /// anyway (with β, its shift), instead of a pass over the output ([`Relu`]).
    Recomputed { shift: Vec<f32> },
    /// ReLU after a residual: the output (the tensor the next layer holds anyway), whose zeros mask the
    /// gradient, which the residual also receives.
    Output(FlexTensor),
}

/// The backward step of batch-norm over the parents x, γ and β (`N = 3`), and of a residual added before
/// ReLU (`N = 4`).
#[derive(Debug)]
struct NormBackward<const N: usize>;

impl<const N: usize> Backward<Cpu, N> for NormBackward<N> {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let mut parents = ops.parents.into_iter();
        let [x_node, gamma_node, beta_node, residual_node] =
            std::array::from_fn(|_| parents.next().flatten());
        let mut dy = grads.consume::<Cpu>(&ops.node);
        let s = ops.state;
        let Some(xv) = values(&s.x) else {
            unreachable!("batch-norm state is an f32 tensor")
        };
        let p = Planes::of(&s.x);
        // ReLU's mask recomputed from x, for channel c.
        let recomputed = |c: usize| match &s.relu {
            ReluMask::Recomputed { shift } => Some(Relu {
                scale: s.gamma[c] * s.inv_std[c],
                shift: shift[c],
            }),
            _ => None,
        };
        let plane_sums = |c: usize, dy: &[f32], x: &[f32]| {
            gradient_sums(dy, x, s.mean[c], s.inv_std[c], recomputed(c))
        };
        // Σ dy and Σ dy·x̂ per channel (the gradients of β and γ), through ReLU's mask: recomputed in the
        // same pass, or applied to each plane of dy from the output just before its sums.
        let sums = match &s.relu {
            ReluMask::Output(y) => {
                let yv = values(y).expect("batch-norm output is an f32 tensor");
                dy = owned(dy);
                let len = xv.len();
                p.per_plane(&mut dy.storage_mut::<f32>()[..len], |c, dst, at| {
                    through_relu(dst, &yv[at..]);
                    plane_sums(c, dst, &xv[at..])
                })
            }
            ReluMask::None | ReluMask::Recomputed { .. } => {
                let dyv = values(&dy).expect("an f32 gradient");
                p.per_channel(|n, c| {
                    let r = p.plane(n, c);
                    plane_sums(c, &dyv[r.clone()], &xv[r])
                })
            }
        };
        if let Some(node) = residual_node {
            grads.register::<Cpu>(node.id, dy.clone());
        }
        let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) =
            sums.into_iter().map(|[a, b]| (a, b)).unzip();
        if let Some(node) = x_node {
            // dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)), written over dy.
            let count = p.count().max(1.0);
            let mut dx = owned(dy);
            p.each_plane(&mut dx.storage_mut::<f32>()[..xv.len()], |c, dst, at| {
                let (m, k) = (s.mean[c], s.inv_std[c]);
                let means = ((sum_dy[c] / count) as f32, (sum_dy_xhat[c] / count) as f32);
                input_gradient_plane(dst, &xv[at..], (m, k, s.gamma[c] * k), means, recomputed(c));
            });
            grads.register::<Cpu>(node.id, dx);
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

/// The gradient through ReLU, in place: `dy` where the output `y` is positive, else zero.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
fn through_relu(dy: &mut [f32], y: &[f32]) {
    dy.iter_mut()
        .zip(y)
        .for_each(|(g, &v)| *g = if v > 0.0 { *g } else { 0.0 });
}
