//! The device cells train on: the CPU (`crate::backend::Cpu`, burn's `flex` with the project's
//! kernels) or, in builds with the `cuda` feature, an NVIDIA GPU. Asking for a GPU that is not there
//! is a diagnostic, never a panic.

use super::CellError;
use crate::diagnostics::Code;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda` or `cuda:N`.
    pub fn parse(text: &str) -> Result<Device, CellError> {
        let t = text.trim().to_ascii_lowercase();
        if t == "cpu" {
            return Ok(Device::Cpu);
        }
        let index = match t.strip_prefix("cuda") {
            Some("") => Some(0),
            Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse::<usize>().ok()),
            None => None,
        };
        index.map(Device::Cuda).ok_or_else(|| {
            CellError::fault(Code::DeviceUnavailable, format!("unknown device `{text}`"))
                .help("use `cpu`, `cuda` or `cuda:N`")
        })
    }

    /// The `--device` argument that selects this device.
    pub fn arg(&self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Cuda(n) => format!("cuda:{n}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => "cpu (flex with study's kernels)".into(),
            Device::Cuda(n) => format!("cuda:{n}"),
        }
    }

    /// A device named on the command line, checked to be usable here before any cell starts.
    pub fn open(text: &str) -> Result<Device, CellError> {
        let device = Device::parse(text)?;
        device.probe()?;
        Ok(device)
    }

    pub fn probe(&self) -> Result<(), CellError> {
        match self {
            Device::Cpu => Ok(()),
            Device::Cuda(n) => cuda_probe(*n),
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_probe(_n: usize) -> Result<(), CellError> {
    Err(CellError::fault(
        Code::DeviceUnavailable,
        "this build of study has no CUDA support",
    )
    .help("build with `cargo build --release --features cuda`, or run with `--device cpu`"))
}

/// Keeps the GPU's compiled kernels and autotune results on disk, so that a second run and every worker
/// process (`--jobs N`, Slurm array tasks) start warm instead of compiling again: under
/// `$STUDY_KERNEL_CACHE`, else `$XDG_CACHE_HOME/study/kernels` (`~/.cache/study/kernels`). A `cubecl.toml`
/// or `burn.toml` in the working folder or above it is used instead where there is one. Takes effect
/// before the first GPU operation of the process.
#[cfg(feature = "cuda")]
pub fn configure_kernel_cache() {
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, cache::CacheConfig};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let configured = std::env::current_dir().is_ok_and(|dir| {
            dir.ancestors().any(|d| {
                ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"]
                    .iter()
                    .any(|f| d.join(f).is_file())
            })
        });
        let Some(dir) = std::env::var_os("STUDY_KERNEL_CACHE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(std::path::PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache"))
                    })
                    .map(|c| c.join("study").join("kernels"))
            })
        else {
            return;
        };
        if configured || std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let mut config = CubeClRuntimeConfig::default();
        config.compilation.cache = Some(CacheConfig::File(dir.clone()));
        config.autotune.cache = CacheConfig::File(dir);
        // `set` refuses (panics) once the runtime has read its configuration: then it stays as it is.
        let _ = quietly(|| CubeClRuntimeConfig::set(config));
    });
}

/// `f()`, with a panic caught and not printed (the CUDA runtime reports some failures by panicking).
#[cfg(feature = "cuda")]
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> std::thread::Result<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result
}

#[cfg(feature = "cuda")]
fn cuda_probe(n: usize) -> Result<(), CellError> {
    use burn::prelude::*;
    configure_kernel_cache();
    // The CUDA runtime panics when there is no driver or no such GPU; that panic is caught here, once,
    // and turned into a diagnostic.
    let result = quietly(|| {
        let device = burn::backend::cuda::CudaDevice::new(n);
        let t = Tensor::<burn::backend::Cuda, 1>::ones([4], &device);
        t.sum().into_scalar().elem::<f32>()
    });
    match result {
        Ok(v) if (v - 4.0).abs() < 1e-6 => Ok(()),
        Ok(v) => Err(CellError::fault(
            Code::DeviceUnavailable,
            format!("cuda:{n} computed 1+1+1+1 = {v}"),
        )),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the CUDA runtime failed to start".into());
            Err(CellError::fault(
                Code::DeviceUnavailable,
                format!(
                    "cuda:{n} is not available: {}",
                    why.lines().next().unwrap_or("")
                ),
            )
            .help("check `nvidia-smi`; or run with `--device cpu`"))
        }
    }
}

/// The default device of a backend (the CPU for flex and the project's CPU backend).
pub fn default_device<B: burn::tensor::backend::Backend>() -> B::Device {
    Default::default()
}

/// Runs generic burn code on the chosen device: `on_device!(device, |D, dev| expr)` binds `D` to the
/// autodiff backend type and `dev` to its device.
macro_rules! on_device {
    ($device:expr, |$backend:ident, $dev:ident| $body:expr) => {{
        match $device {
            $crate::exec::Device::Cpu => {
                type $backend = burn::backend::Autodiff<$crate::backend::Cpu>;
                let $dev = $crate::exec::device::default_device::<$crate::backend::Cpu>();
                $body
            }
            #[cfg(feature = "cuda")]
            $crate::exec::Device::Cuda(n) => {
                type $backend = burn::backend::Autodiff<burn::backend::Cuda>;
                let $dev = burn::backend::cuda::CudaDevice::new(*n);
                $body
            }
            #[cfg(not(feature = "cuda"))]
            $crate::exec::Device::Cuda(_) => Err($crate::exec::CellError::fault(
                $crate::diagnostics::Code::DeviceUnavailable,
                "this build of study has no CUDA support",
            )),
        }
    }};
}
pub(crate) use on_device;
