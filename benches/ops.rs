//! Where a train step's time goes: each operation of the small CNN's train step (batch 32, 1×128×128) on
//! its own, in flex and in the project's CPU backend, side by side (batch-norm as the models run it:
//! burn's module on flex, the fused operation on the project's backend); then ResNet-18's 3×3
//! convolutions of each stage (at 224×224) and its stem's 3×3/2 max pooling.
//!
//!     cargo bench --bench ops

use burn::backend::{Autodiff, Flex};
use burn::nn::BatchNormConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use std::time::Instant;
use study::backend::Cpu;

/// Median milliseconds of `f` over a few repetitions, after one warm-up.
fn millis(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn prim<B: Backend>(t: &Tensor<B, 4>) -> FloatTensor<B> {
    t.clone().into_primitive().tensor()
}

/// What to time on one map size: the 3×3 convolution's three passes, and the max pooling after it
/// (`[kernel, stride, padding]`) with the ReLU before it.
struct Layer {
    channels: [usize; 2],
    size: usize,
    convolution: bool,
    pooling: Option<[usize; 3]>,
}

const fn layer(channels: [usize; 2], size: usize, pooling: Option<[usize; 3]>) -> Layer {
    Layer {
        channels,
        size,
        convolution: true,
        pooling,
    }
}

/// The small CNN's three stages, ResNet-18's 3×3 convolutions per stage, and ResNet's stem pooling.
const LAYERS: [Layer; 8] = [
    layer([1, 32], 128, Some([2, 2, 0])),
    layer([32, 64], 64, Some([2, 2, 0])),
    layer([64, 128], 32, Some([2, 2, 0])),
    layer([64, 64], 56, None),
    layer([128, 128], 28, None),
    layer([256, 256], 14, None),
    layer([512, 512], 7, None),
    Layer {
        convolution: false,
        ..layer([3, 64], 112, Some([3, 2, 1]))
    },
];

/// (name, GFLOP of the operation, milliseconds) for each operation of [`LAYERS`].
fn measure<B: Backend>() -> Vec<(String, f64, f64)> {
    let device = Default::default();
    B::seed(&device, 1);
    let rand = |shape: [usize; 4]| Tensor::<B, 4>::random(shape, Distribution::Default, &device);
    let n = 32;
    let mut rows = Vec::new();
    for Layer {
        channels: [c_in, c_out],
        size: hw,
        convolution,
        pooling,
    } in LAYERS
    {
        // The convolution's output, and its gradient.
        let g = rand([n, c_out, hw, hw]);
        let tag = format!("{c_in}→{c_out} at {hw}×{hw}");
        let mut row =
            |name: &str, gflop: f64, ms: f64| rows.push((format!("{name} {tag}"), gflop, ms));
        if convolution {
            let (x, w) = (rand([n, c_in, hw, hw]), rand([c_out, c_in, 3, 3]));
            let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            let gflop = 2.0 * (n * c_out * hw * hw * c_in * 9) as f64 / 1e9;
            row(
                "conv forward",
                gflop,
                millis(|| {
                    B::conv2d(prim(&x), prim(&w), None, opts.clone());
                }),
            );
            row(
                "conv input grad",
                gflop,
                millis(|| {
                    B::conv2d_x_backward(prim(&x), prim(&w), prim(&g), opts.clone());
                }),
            );
            row(
                "conv weight grad",
                gflop,
                millis(|| {
                    B::conv2d_weight_backward(prim(&x), prim(&w), prim(&g), opts.clone());
                }),
            );
        }
        let Some([k, s, p]) = pooling else {
            continue;
        };
        let pool = || B::max_pool2d_with_indices(prim(&g), [k, k], [s, s], [p, p], [1, 1], false);
        let pooled = pool();
        row(
            &format!("max pool {k}×{k}/{s} forward"),
            0.0,
            millis(|| {
                pool();
            }),
        );
        row(
            &format!("max pool {k}×{k}/{s} backward"),
            0.0,
            millis(|| {
                B::max_pool2d_with_indices_backward(
                    prim(&g),
                    [k, k],
                    [s, s],
                    [p, p],
                    [1, 1],
                    false,
                    pooled.output.clone(),
                    pooled.indices.clone(),
                );
            }),
        );
        row(
            "relu",
            0.0,
            millis(|| {
                burn::tensor::activation::relu(g.clone());
            }),
        );
    }
    rows
}

/// Milliseconds of a training-mode batch-norm forward and backward on `[32, c, hw, hw]`: burn's module on
/// flex, the fused operation on the project's backend (what the models call).
fn batch_norm_rows<B: AutodiffBackend + study::backend::ModelBackend>() -> Vec<(String, f64, f64)> {
    let device = Default::default();
    [(32usize, 128usize), (64, 64), (128, 32)]
        .into_iter()
        .map(|(c, hw)| {
            let bn = BatchNormConfig::new(c).init::<B>(&device);
            let x = Tensor::<B, 4>::random([32, c, hw, hw], Distribution::Default, &device)
                .require_grad();
            let ms = millis(|| {
                let _ = study::backend::batch_norm(&bn, x.clone()).sum().backward();
            });
            (
                format!("batch-norm forward + backward {c} at {hw}×{hw}"),
                0.0,
                ms,
            )
        })
        .collect()
}

fn main() {
    let mut flex = measure::<Flex>();
    flex.extend(batch_norm_rows::<Autodiff<Flex>>());
    let mut ours = measure::<Cpu>();
    ours.extend(batch_norm_rows::<Autodiff<Cpu>>());
    println!(
        "{:<44} {:>10} {:>10} {:>8}   GFLOP/s flex / study",
        "operation", "flex ms", "study ms", "speed-up"
    );
    // Winograd's transform does fewer multiplications than the convolution it computes; its GFLOP/s
    // count the convolution's (2·outputs·channels·9), so that columns compare.
    for ((name, gflop, a), (_, _, b)) in flex.iter().zip(&ours) {
        let rate = if *gflop > 0.0 {
            format!("{:>6.1} / {:>6.1}", gflop / a * 1e3, gflop / b * 1e3)
        } else {
            String::new()
        };
        println!("{name:<44} {a:>10.2} {b:>10.2} {:>7.1}×   {rate}", a / b);
    }
}
