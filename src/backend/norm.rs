//! Batch normalisation of NCHW feature maps as one fused operation: two passes forward, two backward,
//! where burn's module composes it from about twenty whole-tensor operations. In training both passes run
//! channel by channel, so that the second reads the channel's planes from the cache the first left them in.
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

    /// The values of channel `c` in image `n`.
    fn plane(&self, n: usize, c: usize) -> std::ops::Range<usize> {
        let at = (n * self.channels + c) * self.area;
        at..at + self.area
    }

    /// The planes of `values` (a feature map of these sizes) in channel-major order, the `batch` planes
    /// of each channel in image order, so that chunks of `batch` planes are channels.
    fn channel_major<'a, T>(&self, values: &'a mut [T]) -> Vec<&'a mut [T]> {
        if self.area == 0 {
            return Vec::new();
        }
        let mut planes: Vec<Option<&'a mut [T]>> =
            values.chunks_exact_mut(self.area).map(Some).collect();
        let mut ordered = Vec::with_capacity(planes.len());
        for c in 0..self.channels {
            for n in 0..self.batch {
                ordered.extend(planes[n * self.channels + c].take());
            }
        }
        ordered
    }
}

/// A channel's batch mean and biased variance from `[Σ x, Σ x²]` over `count` values (sums in f64, whose
/// 53 bits keep E[x²] − E[x]² exact enough for f32 activations).
fn moments([sum, squares]: [f64; 2], count: f64) -> (f64, f64) {
    let mean = sum / count.max(1.0);
    (mean, (squares / count.max(1.0) - mean * mean).max(0.0))
}

/// 1/σ from a biased variance.
fn inverse_std(var: f64, epsilon: f32) -> f32 {
    1.0 / (var as f32 + epsilon).sqrt()
}

/// Training's forward pass with batch statistics, channel by channel on all cores: the channel's sums over
/// the batch, then its planes normalised (`(x − mean) · γ/σ + β`, plus `residual`, then ReLU where
/// `then_relu`) while they are still in cache, so that x is read from memory once instead of twice (a
/// channel of a batch of 8 on 56×56 maps is 100 KiB). The output, and each channel's batch mean, biased
/// variance and 1/σ.
fn normalise_by_batch(
    x: &[f32],
    p: Planes,
    (gamma, beta, epsilon): (&[f32], &[f32], f32),
    residual: Option<&[f32]>,
    then_relu: bool,
) -> (Vec<f32>, Vec<(f64, f64, f32)>) {
    let len = p.batch * p.channels * p.area;
    let mut y = Vec::with_capacity(len);
    let mut planes = p.channel_major(&mut y.spare_capacity_mut()[..len]);
    if planes.is_empty() {
        return (y, vec![(0.0, 0.0, inverse_std(0.0, epsilon)); p.channels]);
    }
    let moments: Vec<(f64, f64, f32)> = planes
        .par_chunks_mut(p.batch)
        .enumerate()
        .map(|(c, planes)| {
            let sums = (0..p.batch).fold([0.0; 2], |[a, b], n| {
                let [s, q] = sum_and_squares(&x[p.plane(n, c)]);
                [a + s, b + q]
            });
            let (mean, var) = moments(sums, p.count());
            let inv_std = inverse_std(var, epsilon);
            let affine = (mean as f32, gamma[c] * inv_std, beta[c]);
            for (n, dst) in planes.iter_mut().enumerate() {
                let at = p.plane(n, c);
                let residual = residual.map(|r| &r[at.clone()]);
                let written = affine_plane(&x[at], dst, affine, residual, then_relu);
                assert_eq!(written, p.area, "plane {n} of channel {c} is short");
            }
            (mean, var, inv_std)
        })
        .collect();
    // SAFETY: every plane of every channel wrote all its values (asserted above).
    unsafe { y.set_len(len) };
    (y, moments)
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
    let gamma_values = vector(gamma.clone().inner());
    let beta_values = vector(beta.clone().inner());
    let epsilon = bn.epsilon as f32;
    let parameters = (&gamma_values[..], &beta_values[..], epsilon);
    let residual_values = residual_values.as_deref();
    let (y, moments) = normalise_by_batch(&xv, p, parameters, residual_values, then_relu);
    let y = tensor(y, x.primitive.shape());
    let (mut mean, mut var, mut inv_std) = (Vec::new(), Vec::new(), Vec::new());
    for (m, v, k) in moments {
        mean.push(m);
        var.push(v);
        inv_std.push(k);
    }
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();

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
        let s = ops.state;
        let Some(xv) = values(&s.x) else {
            unreachable!("batch-norm state is an f32 tensor")
        };
        let (p, len) = (Planes::of(&s.x), xv.len());
        let count = p.count().max(1.0);
        // ReLU's mask recomputed from x, for channel c.
        let recomputed = |c: usize| match &s.relu {
            ReluMask::Recomputed { shift } => Some(Relu {
                scale: s.gamma[c] * s.inv_std[c],
                shift: shift[c],
            }),
            _ => None,
        };
        let output = match &s.relu {
            ReluMask::Output(y) => Some(values(y).expect("batch-norm output is an f32 tensor")),
            _ => None,
        };
        // dy is written in place: through ReLU's mask from the output, then by dx, unless the residual
        // receives the masked dy, in which case dx goes to a buffer of its own.
        let mut dy = owned(grads.consume::<Cpu>(&ops.node));
        let separate = residual_node.is_some() && x_node.is_some();
        let mut dx = Vec::with_capacity(if separate { len } else { 0 });
        let mut dy_planes = p.channel_major(&mut dy.storage_mut::<f32>()[..len]);
        let mut dx_planes: Vec<Option<&mut [MaybeUninit<f32>]>> = match separate {
            true => p
                .channel_major(&mut dx.spare_capacity_mut()[..len])
                .into_iter()
                .map(Some)
                .collect(),
            false => std::iter::repeat_with(|| None)
                .take(dy_planes.len())
                .collect(),
        };
        // Channel by channel on all cores: Σ dy and Σ dy·x̂ (the gradients of β and γ) through ReLU's mask,
        // then dx = γ/σ · (dy − mean(dy) − x̂ · mean(dy·x̂)) over the same planes while they are in cache.
        let channels = dy_planes
            .par_chunks_mut(p.batch.max(1))
            .zip(dx_planes.par_chunks_mut(p.batch.max(1)));
        let mut sums: Vec<[f64; 2]> = channels
            .enumerate()
            .map(|(c, (dy_planes, dx_planes))| {
                let (m, k, relu) = (s.mean[c], s.inv_std[c], recomputed(c));
                let sums = dy_planes
                    .iter_mut()
                    .enumerate()
                    .fold([0.0; 2], |[a, b], (n, dy)| {
                        let at = p.plane(n, c);
                        if let Some(y) = &output {
                            through_relu(dy, &y[at.clone()]);
                        }
                        let [u, v] = gradient_sums(dy, &xv[at], m, k, relu);
                        [a + u, b + v]
                    });
                if x_node.is_some() {
                    let means = ((sums[0] / count) as f32, (sums[1] / count) as f32);
                    for (n, (dy, dx)) in dy_planes.iter_mut().zip(dx_planes).enumerate() {
                        let dx = match dx.take() {
                            Some(dst) => dst.write_copy_of_slice(dy),
                            None => &mut **dy,
                        };
                        let x = &xv[p.plane(n, c)];
                        input_gradient_plane(dx, x, (m, k, s.gamma[c] * k), means, relu);
                    }
                }
                sums
            })
            .collect();
        // No planes (empty maps): zero sums.
        sums.resize(p.channels, [0.0; 2]);
        if separate {
            // SAFETY: every plane of every channel was written above, its masked dy copied in first.
            unsafe { dx.set_len(len) };
        }
        let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) =
            sums.into_iter().map(|[a, b]| (a, b)).unzip();
        let shape = s.x.shape();
        match (residual_node, x_node) {
            (Some(residual), Some(x)) => {
                grads.register::<Cpu>(residual.id, dy);
                grads.register::<Cpu>(x.id, tensor(dx, shape));
            }
            (Some(residual), None) => grads.register::<Cpu>(residual.id, dy),
            (None, Some(x)) => grads.register::<Cpu>(x.id, dy),
            (None, None) => {}
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
