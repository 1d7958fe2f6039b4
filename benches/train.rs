//! Training throughput: a full Adam train step (forward, backward, optimiser) of the small CNN on
//! 1×128×128 and of ResNet-18 on 3×224×224, batch 32, in images/s; and inference. Next to the PyTorch
//! peer (`benches/peer/train.py`) when `python3` can import torch.
//!
//!     cargo bench --bench train                              # CPU (burn flex)
//!     cargo bench --bench train --features cuda -- --cuda    # also CUDA: throughput, loss, CPU/GPU agreement

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use std::time::Instant;
use study::backend::{Cpu, TrainBackend};
use study::model::{Net, NetConfig};
use study::study::Architecture;

struct Case {
    name: &'static str,
    config: NetConfig,
    shape: [usize; 4],
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "cnn 1x128x128",
            config: NetConfig {
                architecture: Architecture::Cnn {
                    channels: vec![32, 64, 128],
                    kernel: 3,
                },
                in_channels: 1,
                classes: 2,
                head: vec![],
                dropout: 0.0,
            },
            shape: [32, 1, 128, 128],
        },
        Case {
            name: "resnet18 3x224x224",
            config: NetConfig {
                architecture: Architecture::Resnet { depth: 18 },
                in_channels: 3,
                classes: 2,
                head: vec![],
                dropout: 0.0,
            },
            shape: [32, 3, 224, 224],
        },
    ]
}

fn batch<B: Backend>(shape: [usize; 4], device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let n: usize = shape.iter().product();
    // A fixed pseudo-random batch: the same values on every backend.
    let x: Vec<f32> = (0..n)
        .map(|i| ((i as u64).wrapping_mul(2654435761) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let y: Vec<i64> = (0..shape[0]).map(|i| (i % 2) as i64).collect();
    (
        Tensor::from_data(TensorData::new(x, shape), device),
        Tensor::from_data(TensorData::new(y, [shape[0]]), device),
    )
}

/// Train steps per second × batch; returns (train images/s, inference images/s, losses of the steps).
fn throughput<B: TrainBackend>(
    case: &Case,
    steps: usize,
    device: &B::Device,
) -> (f64, f64, Vec<f32>) {
    B::seed(device, 1);
    let mut net: Net<B> = Net::new(&case.config, device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (x, y) = batch::<B>(case.shape, device);
    let mut losses = Vec::new();
    let mut step = |net: Net<B>| -> Net<B> {
        let loss = loss_fn.forward(net.forward(x.clone()), y.clone());
        losses.push(loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        optim.step(1e-3, net, grads)
    };
    net = step(net); // warm-up
    let start = Instant::now();
    for _ in 0..steps {
        net = step(net);
    }
    let train = (steps * case.shape[0]) as f64 / start.elapsed().as_secs_f64();
    let inner = net.valid();
    let xi = x.inner();
    let _ = inner.forward(xi.clone()).into_data();
    let start = Instant::now();
    for _ in 0..steps {
        let _ = inner.forward(xi.clone()).into_data();
    }
    let infer = (steps * case.shape[0]) as f64 / start.elapsed().as_secs_f64();
    (train, infer, losses)
}

fn peer() -> Option<String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/train.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn main() {
    let cuda = std::env::args().any(|a| a == "--cuda" || a == "--cuda-only");
    if std::env::args().any(|a| a == "--cuda-only") {
        cuda_checks();
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let device = Default::default();
    let peer_out = peer();
    // `cargo bench --bench train -- resnet` runs only the cases whose name contains one of the words.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for case in cases() {
        if !words.is_empty() && !words.iter().any(|w| case.name.contains(w.as_str())) {
            continue;
        }
        let steps = if case.name.starts_with("cnn") { 8 } else { 3 };
        if std::env::args().any(|a| a == "--flex") {
            let (train, infer, _) = throughput::<Autodiff<Flex>>(&case, steps, &device);
            println!(
                "burn flex   {:<20} train {train:>7.1} images/s   inference {infer:>7.1} images/s ({threads} threads)",
                case.name
            );
        }
        let (train, infer, _) = throughput::<Autodiff<Cpu>>(&case, steps, &device);
        println!(
            "study cpu   {:<20} train {train:>7.1} images/s   inference {infer:>7.1} images/s ({threads} threads)",
            case.name
        );
        if let Some(line) = peer_out.as_ref().and_then(|o| {
            o.lines()
                .find(|l| l.contains(case.name.split(' ').next().unwrap_or("")))
        }) {
            println!("{line}");
            let peer = |what: &str| {
                line.split(what)
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|v| v.parse::<f64>().ok())
            };
            if let (Some(t), Some(i)) = (peer("train"), peer("inference")) {
                println!(
                    "ratio study / pytorch   {:<20} train {:.2}x   inference {:.2}x",
                    case.name,
                    train / t,
                    infer / i
                );
            }
        }
    }
    if peer_out.is_none() {
        println!("pytorch peer not run: install torch for python3 (see benches/README.md)");
    }
    if cuda {
        cuda_checks();
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_checks() {
    eprintln!("this build has no CUDA backend: rebuild with --features cuda");
    std::process::exit(2);
}

/// Largest absolute and relative difference of two outputs.
#[cfg(feature = "cuda")]
fn compare(a: &[f32], b: &[f32]) -> (f32, f32) {
    let max_abs = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0f32, f32::max);
    let scale = a.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-6);
    (max_abs, max_abs / scale)
}

/// Single layers with the same weights and input on both devices, to localise a disagreement.
#[cfg(feature = "cuda")]
fn layer_checks() {
    use burn::backend::Cuda;
    use burn::module::Module;
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::{AdaptiveAvgPool2dConfig, MaxPool2dConfig};
    use burn::nn::{BatchNormConfig, LinearConfig, PaddingConfig2d};
    use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
    let gpu = burn::backend::cuda::CudaDevice::new(0);
    let cpu = Default::default();
    let rec = BinBytesRecorder::<FullPrecisionSettings>::default();
    let shape = [2, 3, 16, 16];
    let to_vec = |t: Vec<f32>| t;
    macro_rules! check {
        ($name:expr, $cpu_module:expr, $gpu_new:expr, $f:expr) => {{
            // Parameters are initialised lazily: both devices load the same recorded bytes.
            let fresh = $cpu_module;
            let bytes =
                Recorder::<Flex>::record(&rec, fresh.clone().into_record(), ()).expect("record");
            let m_cpu = $cpu_module
                .load_record(Recorder::<Flex>::load(&rec, bytes.clone(), &cpu).expect("load"));
            let m_gpu =
                $gpu_new.load_record(Recorder::<Cuda>::load(&rec, bytes, &gpu).expect("load"));
            let (x_cpu, _) = batch::<Flex>(shape, &cpu);
            let (x_gpu, _) = batch::<Cuda>(shape, &gpu);
            let a: Vec<f32> = to_vec(
                $f(&m_cpu, x_cpu)
                    .into_data()
                    .convert::<f32>()
                    .to_vec()
                    .expect("cpu"),
            );
            let b: Vec<f32> = to_vec(
                $f(&m_gpu, x_gpu)
                    .into_data()
                    .convert::<f32>()
                    .to_vec()
                    .expect("gpu"),
            );
            let (abs, rel) = compare(&a, &b);
            println!(
                "  layer {:<28} max |diff| {abs:.2e}, relative {rel:.2e}",
                $name
            );
        }};
    }
    let conv = |p: usize, s: usize| {
        Conv2dConfig::new([3, 8], [3, 3])
            .with_stride([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_bias(false)
    };
    check!(
        "conv 3x3 pad 0",
        conv(0, 1).init::<Flex>(&cpu),
        conv(0, 1).init::<Cuda>(&gpu),
        |m: &burn::nn::conv::Conv2d<_>, x| m.forward(x)
    );
    check!(
        "conv 3x3 pad 1",
        conv(1, 1).init::<Flex>(&cpu),
        conv(1, 1).init::<Cuda>(&gpu),
        |m: &burn::nn::conv::Conv2d<_>, x| m.forward(x)
    );
    check!(
        "conv 3x3 pad 1 stride 2",
        conv(1, 2).init::<Flex>(&cpu),
        conv(1, 2).init::<Cuda>(&gpu),
        |m: &burn::nn::conv::Conv2d<_>, x| m.forward(x)
    );
    let c7 = Conv2dConfig::new([3, 8], [7, 7])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
        .with_bias(false);
    check!(
        "conv 7x7 pad 3 stride 2",
        c7.init::<Flex>(&cpu),
        c7.init::<Cuda>(&gpu),
        |m: &burn::nn::conv::Conv2d<_>, x| m.forward(x)
    );
    check!(
        "batch-norm (inference)",
        BatchNormConfig::new(3).init::<Flex>(&cpu),
        BatchNormConfig::new(3).init::<Cuda>(&gpu),
        |m: &burn::nn::BatchNorm<_>, x| m.forward(x)
    );
    // Layers without weights: the same configuration on both devices.
    let (x_cpu, _) = batch::<Flex>(shape, &cpu);
    let (x_gpu, _) = batch::<Cuda>(shape, &gpu);
    macro_rules! stateless {
        ($name:expr, $layer:expr) => {{
            let a: Vec<f32> = $layer
                .forward(x_cpu.clone())
                .into_data()
                .convert::<f32>()
                .to_vec()
                .expect("cpu");
            let b: Vec<f32> = $layer
                .forward(x_gpu.clone())
                .into_data()
                .convert::<f32>()
                .to_vec()
                .expect("gpu");
            println!("  layer {:<28} max |diff| {:.2e}", $name, compare(&a, &b).0);
        }};
    }
    stateless!(
        "max-pool 3x3 pad 1 stride 2",
        MaxPool2dConfig::new([3, 3])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init()
    );
    stateless!("max-pool 2x2", MaxPool2dConfig::new([2, 2]).init());
    stateless!(
        "adaptive average pool",
        AdaptiveAvgPool2dConfig::new([1, 1]).init()
    );
    let lin = LinearConfig::new(16, 4);
    check!(
        "linear",
        lin.init::<Flex>(&cpu),
        lin.init::<Cuda>(&gpu),
        |m: &burn::nn::Linear<_>, x: Tensor<_, 4>| m.forward(x)
    );
}

#[cfg(feature = "cuda")]
fn cuda_checks() {
    layer_checks();
    use burn::backend::Cuda;
    use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
    let gpu = burn::backend::cuda::CudaDevice::new(0);
    let cpu = Default::default();
    for case in cases() {
        let steps = if case.name.starts_with("cnn") { 30 } else { 15 };
        let (train, infer, losses) = throughput::<Autodiff<Cuda>>(&case, steps, &gpu);
        println!(
            "burn cuda   {:<20} train {train:>7.1} images/s   inference {infer:>7.1} images/s",
            case.name
        );
        println!(
            "  loss over {} steps on one batch: {:.4} -> {:.4} ({})",
            losses.len(),
            losses[0],
            losses[losses.len() - 1],
            if losses[losses.len() - 1] < losses[0] {
                "falls"
            } else {
                "DOES NOT FALL"
            }
        );
        // The same weights and batch on both devices.
        Flex::seed(&cpu, 3);
        let net_cpu: Net<Flex> = Net::new(&case.config, &cpu);
        let recorder = BinBytesRecorder::<FullPrecisionSettings>::default();
        let bytes =
            Recorder::<Flex>::record(&recorder, net_cpu.clone().into_record(), ()).expect("record");
        // Parameters are initialised lazily: load the recorded bytes on both devices.
        let net_cpu: Net<Flex> = Net::<Flex>::new(&case.config, &cpu)
            .load_record(Recorder::<Flex>::load(&recorder, bytes.clone(), &cpu).expect("load"));
        let record = Recorder::<Cuda>::load(&recorder, bytes, &gpu).expect("load");
        let net_gpu: Net<Cuda> = Net::<Cuda>::new(&case.config, &gpu).load_record(record);
        let (x_cpu, _) = batch::<Flex>(case.shape, &cpu);
        let (x_gpu, _) = batch::<Cuda>(case.shape, &gpu);
        let a: Vec<f32> = net_cpu
            .forward(x_cpu)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("cpu logits");
        let b: Vec<f32> = net_gpu
            .forward(x_gpu)
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("gpu logits");
        let max_abs = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        let scale = a.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-6);
        println!(
            "  CPU vs CUDA logits, same weights and batch: max |diff| {max_abs:.2e}, relative {:.2e} ({})",
            max_abs / scale,
            if max_abs / scale < 1e-3 {
                "agree within 1e-3"
            } else {
                "DISAGREE"
            }
        );
    }
}
