//! Training throughput on the CPU next to PyTorch: a full Adam train step (forward, backward, optimiser), a
//! frozen-backbone train step (everything frozen but batch-norm and the head, the paper's policy) and
//! inference, for the small CNN on 1×128×128 and ResNet-18, ResNet-50 and DenseNet-121 on 3×224×224; images/s
//! (median step) and the peak resident memory of each side. Each row runs in a process of its own, ours and
//! the peer's (`benches/peer/train.py`, when `python3` can import torch) one after the other, so that the
//! ratio compares the same moment of a shared machine and each peak belongs to one row; the two take
//! turns twice (`--rounds=N`), and each side keeps its faster round.
//!
//!     cargo bench --bench train                              # every row
//!     cargo bench --bench train -- resnet50 densenet         # rows whose case names one of the words
//!     cargo bench --bench train -- --rounds=1                # one turn each side (half the time)
//!     cargo bench --bench train -- --flex                    # also plain flex (train and inference)
//!     cargo bench --bench train --features cuda -- --cuda    # also CUDA: throughput, loss, CPU/GPU agreement

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use std::process::Command;
use std::time::Instant;
use study::backend::{Cpu, FusedAdam, TrainBackend};
use study::model::weights::freeze;
use study::model::{Net, NetConfig};
use study::study::{Architecture, Freeze};

struct Case {
    /// Network and batch, as the peer takes them: `resnet50/8`.
    name: &'static str,
    config: NetConfig,
    shape: [usize; 4],
    /// Timed steps per row (after one warm-up step).
    steps: usize,
}

fn net_config(architecture: Architecture, in_channels: usize) -> NetConfig {
    NetConfig {
        architecture,
        in_channels,
        classes: 2,
        head: vec![],
        dropout: 0.0,
    }
}

fn cases() -> Vec<Case> {
    let cnn = || {
        net_config(
            Architecture::Cnn {
                channels: vec![32, 64, 128],
                kernel: 3,
            },
            1,
        )
    };
    let resnet = |depth| net_config(Architecture::Resnet { depth }, 3);
    let densenet = || net_config(Architecture::Densenet { depth: 121 }, 3);
    let rgb = |batch| [batch, 3, 224, 224];
    vec![
        Case {
            name: "cnn/32",
            config: cnn(),
            shape: [32, 1, 128, 128],
            steps: 10,
        },
        Case {
            name: "resnet18/32",
            config: resnet(18),
            shape: rgb(32),
            steps: 5,
        },
        Case {
            name: "resnet50/32",
            config: resnet(50),
            shape: rgb(32),
            steps: 3,
        },
        Case {
            name: "resnet50/8",
            config: resnet(50),
            shape: rgb(8),
            steps: 6,
        },
        Case {
            name: "densenet121/32",
            config: densenet(),
            shape: rgb(32),
            steps: 3,
        },
        Case {
            name: "densenet121/8",
            config: densenet(),
            shape: rgb(8),
            steps: 6,
        },
    ]
}

const MODES: [&str; 3] = ["train", "frozen", "inference"];

fn batch<B: Backend>(shape: [usize; 4], device: &B::Device) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let n: usize = shape.iter().product();
    // A fixed pseudo-random batch: the same values on every backend and in the peer.
    let x: Vec<f32> = (0..n)
        .map(|i| ((i as u64).wrapping_mul(2654435761) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let y: Vec<i64> = (0..shape[0]).map(|i| (i % 2) as i64).collect();
    (
        Tensor::from_data(TensorData::new(x, shape), device),
        Tensor::from_data(TensorData::new(y, [shape[0]]), device),
    )
}

/// Images per second of the median of `steps` steps (after a warm-up step) of `mode`, and the loss of
/// every train step.
fn measure<B: TrainBackend>(
    case: &Case,
    mode: &str,
    steps: usize,
    device: &B::Device,
) -> (f64, Vec<f32>) {
    B::seed(device, 1);
    let mut net: Net<B> = Net::new(&case.config, device);
    let (x, y) = batch::<B>(case.shape, device);
    let mut times = Vec::new();
    let mut losses = Vec::new();
    let mut timed = |step: &mut dyn FnMut()| {
        for i in 0..=steps {
            let start = Instant::now();
            step();
            if i > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
    };
    if mode == "inference" {
        let inner = net.valid();
        let xi = x.inner();
        timed(&mut || {
            let _ = inner.forward(xi.clone()).into_data();
        });
    } else {
        if mode == "frozen" {
            net = freeze(net, Freeze::AllButBatchnorm);
        }
        let mut optim = FusedAdam::default().init();
        let loss_fn = CrossEntropyLossConfig::new().init(device);
        let mut net = Some(net);
        timed(&mut || {
            let model = net.take().expect("network");
            let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
            losses.push(loss.clone().into_scalar().elem::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            net = Some(optim.step(1e-3, model, grads));
        });
    }
    times.sort_by(f64::total_cmp);
    (case.shape[0] as f64 / times[times.len() / 2], losses)
}

/// Peak resident memory of this process, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// One row in this process (`--row CASE MODE BACKEND`), printed as the peer prints it.
fn row(args: &[String]) {
    let [case, mode, backend] = [&args[0], &args[1], &args[2]];
    let case = cases()
        .into_iter()
        .find(|c| c.name == case)
        .expect("a case of cases()");
    let device = Default::default();
    let (speed, _) = match backend.as_str() {
        "flex" => measure::<Autodiff<Flex>>(&case, mode, case.steps, &device),
        _ => measure::<Autodiff<Cpu>>(&case, mode, case.steps, &device),
    };
    println!("images/s {speed:.2} peak_kib {}", peak_kib());
}

/// A row's result: images/s and peak resident memory in MiB, parsed from a row process's line.
fn run_row(command: &mut Command) -> Option<(f64, f64)> {
    let out = command.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
        return None;
    }
    let line = text.lines().find(|l| l.starts_with("images/s"))?;
    let field = |name: &str| {
        line.split(name)
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()
    };
    Some((field("images/s")?, field("peak_kib")? / 1024.0))
}

/// The higher speed and the larger peak of two rounds of a row (either where the other failed).
fn faster(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> Option<(f64, f64)> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0.max(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    }
}

fn peer_available() -> bool {
    Command::new("python3")
        .args(["-c", "import torch, torchvision"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[path = "train/device.rs"]
mod device;

/// `--device-list`: the rows of the accelerator sweep, `NAME BATCH` per line; `--device-row BACKEND NAME
/// BATCH MODE READ_EVERY`: one of them (BACKEND `cpu`, or `cuda` in a build with the feature).
fn device_rows(args: &[String]) -> bool {
    if args.iter().any(|a| a == "--device-list") {
        for (case, b) in device::sweep() {
            println!("{} {b}", case.name);
        }
        return true;
    }
    let Some(at) = args.iter().position(|a| a == "--device-row") else {
        return false;
    };
    let [backend, name, b, mode, read_every] = std::array::from_fn(|i| {
        args.get(at + 1 + i)
            .cloned()
            .expect("--device-row BACKEND NAME BATCH MODE READ_EVERY")
    });
    let (case, _) = device::sweep()
        .into_iter()
        .find(|(c, n)| c.name == name && n.to_string() == b)
        .expect("a row of --device-list");
    let read_every = read_every.parse().expect("READ_EVERY, a number");
    let steps = if case.shape[0] >= 128 { 3 } else { 5 };
    let line = match backend.as_str() {
        "cpu" => device::row::<Autodiff<Cpu>>(&case, &mode, steps, read_every, &Default::default()),
        _ => cuda_row(&case, &mode, steps, read_every),
    };
    println!("{line}");
    true
}

#[cfg(feature = "cuda")]
fn cuda_row(case: &Case, mode: &str, steps: usize, read_every: usize) -> String {
    study::exec::device::configure_kernel_cache();
    let gpu = burn::backend::cuda::CudaDevice::new(0);
    device::row::<Autodiff<burn::backend::Cuda>>(case, mode, steps, read_every, &gpu)
}

#[cfg(not(feature = "cuda"))]
fn cuda_row(_: &Case, _: &str, _: usize, _: usize) -> String {
    eprintln!("this build has no CUDA backend: rebuild with --features cuda");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--row") {
        row(&args[at + 1..]);
        return;
    }
    if device_rows(&args) {
        return;
    }
    if args.iter().any(|a| a == "--cuda-only") {
        cuda_checks();
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let flex = args.iter().any(|a| a == "--flex");
    let peer = peer_available();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/train.py");
    let exe = std::env::current_exe().expect("the bench's own path");
    // `cargo bench --bench train -- resnet` runs only the cases whose name contains one of the words.
    let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let rounds = match args.iter().find_map(|a| a.strip_prefix("--rounds=")) {
        None => 2,
        Some(n) => n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
            eprintln!("--rounds=N takes a whole number from 1");
            std::process::exit(2)
        }),
    };
    println!(
        "{threads} threads; images/s of the median step, the faster of {rounds} rounds; peak resident \
         memory of each row's processes"
    );
    let mut table = Vec::new();
    for case in cases() {
        if !words.is_empty() && !words.iter().any(|w| case.name.contains(w.as_str())) {
            continue;
        }
        for mode in MODES {
            let ours = |backend: &str| {
                run_row(Command::new(&exe).args(["--row", case.name, mode, backend]))
            };
            if flex
                && mode != "frozen"
                && let Some((speed, mib)) = ours("flex")
            {
                println!(
                    "burn flex  {:<15} {mode:<9} {speed:>8.1} images/s {mib:>7.0} MiB",
                    case.name
                );
            }
            let peer_row = || {
                peer.then(|| {
                    run_row(Command::new("python3").arg(&script).args([
                        case.name,
                        mode,
                        &case.steps.to_string(),
                    ]))
                })
                .flatten()
            };
            // The two sides take turns, `rounds` times, and each keeps its fastest round: a slow phase
            // of a shared machine during one side's turn then decides less of the ratio.
            let (mut study, mut pytorch) = (None, None);
            for _ in 0..rounds {
                study = faster(study, ours("study"));
                pytorch = faster(pytorch, peer_row());
            }
            if let Some((speed, mib)) = study {
                println!(
                    "study cpu  {:<15} {mode:<9} {speed:>8.1} images/s {mib:>7.0} MiB",
                    case.name
                );
            }
            if let Some((speed, mib)) = pytorch {
                println!(
                    "pytorch    {:<15} {mode:<9} {speed:>8.1} images/s {mib:>7.0} MiB",
                    case.name
                );
            }
            if let (Some(s), Some(p)) = (study, pytorch) {
                println!(
                    "ratio      {:<15} {mode:<9} {:>8.2}x speed   {:>5.2}x memory (study / pytorch)",
                    case.name,
                    s.0 / p.0,
                    s.1 / p.1
                );
            }
            table.push((case.name, mode, study, pytorch));
        }
    }
    if !peer {
        println!(
            "pytorch peer not run: install torch and torchvision for python3 (see benches/README.md)"
        );
    }
    println!(
        "\n| case | step | study images/s | PyTorch images/s | ratio | study MiB | PyTorch MiB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let cell = |v: Option<f64>, digits: usize| v.map_or(String::new(), |v| format!("{v:.digits$}"));
    for (name, mode, s, p) in table {
        let ratio = s.zip(p).map(|(s, p)| s.0 / p.0);
        println!(
            "| {name} | {mode} | {} | {} | {} | {} | {} |",
            cell(s.map(|s| s.0), 1),
            cell(p.map(|p| p.0), 1),
            ratio.map_or(String::new(), |r| format!("{r:.2}x")),
            cell(s.map(|s| s.1), 0),
            cell(p.map(|p| p.1), 0),
        );
    }
    if args.iter().any(|a| a == "--cuda") {
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
        let (train, losses) = measure::<Autodiff<Cuda>>(&case, "train", steps, &gpu);
        let (infer, _) = measure::<Autodiff<Cuda>>(&case, "inference", steps, &gpu);
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
