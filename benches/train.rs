//! Training throughput on the CPU next to PyTorch: a full Adam train step (forward, backward, optimiser), a
//! frozen-backbone train step (everything frozen but batch-norm and the head, the paper's policy) and
//! inference, for the small CNN on 1×128×128 and ResNet-18, ResNet-50 and DenseNet-121 on 3×224×224; images/s
//! (median step) and the peak resident memory of each side. Each row runs in a process of its own on each
//! side, ours and the peer's (`benches/peer/train.py`, when `python3` can import torch), so that each peak
//! belongs to one row; the two processes live through the row and take turns of a few steps, so that the
//! ratio compares the same moments of a shared machine. `--rounds=N` times each side's timed steps (1).
//!
//!     cargo bench --bench train                              # every row
//!     cargo bench --bench train -- resnet50 densenet         # rows whose case names one of the words
//!     cargo bench --bench train -- --rounds=2                # twice the timed steps (twice the time)
//!     cargo bench --bench train -- --flex                    # also plain flex (train and inference)
//!     cargo bench --bench train --features cuda -- --cuda    # also CUDA: throughput, loss, CPU/GPU agreement

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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

/// One step of `mode` (network, batch and optimiser built once), returning the loss of a train step.
fn stepper<B: TrainBackend>(
    case: &Case,
    mode: &str,
    device: &B::Device,
) -> Box<dyn FnMut() -> Option<f32>> {
    B::seed(device, 1);
    let mut net: Net<B> = Net::new(&case.config, device);
    let (x, y) = batch::<B>(case.shape, device);
    if mode == "inference" {
        let inner = net.valid();
        let xi = x.inner();
        return Box::new(move || {
            let _ = inner.forward(xi.clone()).into_data();
            None
        });
    }
    if mode == "frozen" {
        net = freeze(net, Freeze::AllButBatchnorm);
    }
    let mut optim = FusedAdam::default().init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut net = Some(net);
    Box::new(move || {
        let model = net.take().expect("network");
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        let value = loss.clone().into_scalar().elem::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        net = Some(optim.step(1e-3, model, grads));
        Some(value)
    })
}

/// Images per second of the median of `steps` steps (after a warm-up step) of `mode`, and the loss of
/// every train step.
fn measure<B: TrainBackend>(
    case: &Case,
    mode: &str,
    steps: usize,
    device: &B::Device,
) -> (f64, Vec<f32>) {
    let mut step = stepper::<B>(case, mode, device);
    let mut losses: Vec<f32> = step().into_iter().collect();
    let mut times = Vec::new();
    for _ in 0..steps {
        let start = Instant::now();
        losses.extend(step());
        times.push(start.elapsed().as_secs_f64());
    }
    (case.shape[0] as f64 / median(&mut times), losses)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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

/// `--row CASE MODE BACKEND`: one row in this process, printed as the peer prints it.
fn row(args: &[String]) {
    let (case, mode, backend) = row_args(args);
    let device = Default::default();
    let (speed, _) = match backend {
        "flex" => measure::<Autodiff<Flex>>(&case, mode, case.steps, &device),
        _ => measure::<Autodiff<Cpu>>(&case, mode, case.steps, &device),
    };
    println!("images/s {speed:.2} peak_kib {}", peak_kib());
}

/// `--serve CASE MODE`: the project's side of a row, taking turns with the peer as `Side` drives it.
fn serve(args: &[String]) {
    let (case, mode, _) = row_args(args);
    let mut step = stepper::<Autodiff<Cpu>>(&case, mode, &Default::default());
    step();
    println!("ready");
    for line in std::io::stdin().lines().map_while(Result::ok) {
        if line.trim() == "step" {
            let start = Instant::now();
            step();
            println!("seconds {:.6}", start.elapsed().as_secs_f64());
        }
    }
    println!("peak_kib {}", peak_kib());
}

fn row_args(args: &[String]) -> (Case, &str, &str) {
    let [name, mode] = [0, 1].map(|i| args.get(i).map_or("", String::as_str));
    let Some(case) = cases().into_iter().find(|c| c.name == name) else {
        let names: Vec<_> = cases().iter().map(|c| c.name).collect();
        eprintln!("no case {name:?}: one of {}", names.join(", "));
        std::process::exit(2);
    };
    (case, mode, args.get(2).map_or("study", String::as_str))
}

/// A row's result from a one-shot row process (`--row`): images/s and peak resident memory in MiB.
fn run_row(command: &mut Command) -> Option<(f64, f64)> {
    let out = command.output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr).trim_end());
        return None;
    }
    let line = text.lines().find(|l| l.starts_with("images/s"))?;
    Some((field(line, "images/s")?, field(line, "peak_kib")? / 1024.0))
}

/// The number after `name` in a row process's line.
fn field(line: &str, name: &str) -> Option<f64> {
    line.split(name)
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One side of a row in a process of its own (`--serve` here, `serve` in the peer), alive for the whole row.
/// It has run its warm-up step once started; each `step` runs one step. The two sides' processes take
/// turns of a few steps, so a slow phase of a shared machine falls on both sides alike.
struct Side {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    seconds: Vec<f64>,
}

impl Side {
    /// Starts the process and waits for its warm-up step, so that no two sides' work overlaps.
    fn start(command: &mut Command) -> Option<Side> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take()?).lines();
        let mut side = Side {
            child,
            stdin,
            stdout,
            seconds: Vec::new(),
        };
        side.answer("ready").map(|_| side)
    }

    /// The rest of the first line that starts with `word`; None once the process has ended.
    fn answer(&mut self, word: &str) -> Option<String> {
        self.stdout
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix(word).map(str::to_owned))
    }

    /// One step; its time counts towards the side's median where `timed`.
    fn step(&mut self, timed: bool) -> Option<()> {
        writeln!(self.stdin.as_mut()?, "step").ok()?;
        let seconds = self.answer("seconds")?.trim().parse().ok()?;
        if timed {
            self.seconds.push(seconds);
        }
        Some(())
    }

    /// Images/s of the median step, and the process's peak resident memory in MiB.
    fn finish(mut self, images: usize) -> Option<(f64, f64)> {
        drop(self.stdin.take());
        let peak: f64 = self.answer("peak_kib")?.trim().parse().ok()?;
        let ran = self.child.wait().ok()?.success() && !self.seconds.is_empty();
        ran.then(|| (images as f64 / median(&mut self.seconds), peak / 1024.0))
    }
}

/// Steps a side runs in one turn: the first is not timed, since the first step after the other side's
/// turn ran slower (PyTorch's by about 8 % on ResNet-50/8 train, benches/README.md item 36).
const STEPS_PER_TURN: usize = 3;

/// A row of both sides: each process started in turn, then at least `timed` timed steps each, the two
/// taking turns of `STEPS_PER_TURN` steps with a pause between, so that a thread pool still spinning after
/// one side's turn does not take the other's cores. A side that fails drops out of the row and the other
/// goes on.
fn take_turns(
    mut sides: [Option<Side>; 2],
    timed: usize,
    images: usize,
) -> [Option<(f64, f64)>; 2] {
    for _ in 0..timed.div_ceil(STEPS_PER_TURN - 1) {
        for side in &mut sides {
            let turn = |s: &mut Side| (0..STEPS_PER_TURN).try_for_each(|i| s.step(i > 0));
            if side.as_mut().is_some_and(|s| turn(s).is_none()) {
                *side = None;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    sides.map(|side| side?.finish(images))
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
    if let Some(at) = args.iter().position(|a| a == "--serve") {
        serve(&args[at + 1..]);
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
        None => 1,
        Some(n) => n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| {
            eprintln!("--rounds=N takes a whole number from 1");
            std::process::exit(2)
        }),
    };
    println!(
        "{threads} threads; images/s of the median timed step, the two sides taking turns of \
         {STEPS_PER_TURN} steps, the first untimed; peak resident memory of each row's processes"
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
            let sides = [
                Side::start(Command::new(&exe).args(["--serve", case.name, mode])),
                peer.then(|| {
                    Side::start(
                        Command::new("python3")
                            .arg(&script)
                            .args([case.name, mode, "serve"]),
                    )
                })
                .flatten(),
            ];
            let [study, pytorch] = take_turns(sides, rounds * case.steps, case.shape[0]);
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
