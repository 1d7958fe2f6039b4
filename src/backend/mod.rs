//! The default CPU backend: burn's `flex`, with the project's own kernels for the operations that decide
//! training speed on a CPU.
//!
//! [`Cpu`] has flex's tensor types and hands every operation to flex (`delegate`), except 2-D convolution
//! (forward and both backward passes as im2col + the `gemm` crate's matrix product, or Winograd's
//! F(2×2, 3×3) transform for 3×3 unit-stride convolutions between wide layers: `conv`), 2-D max
//! pooling (forward with indices and backward) and 2×2 average pooling (forward and backward: `pool`),
//! and concatenation, strided and shared tensors' copies and same-shape sums, split over the cores
//! (`copy`).
//! Batch-norm with its neighbours (`norm`) and Adam's step (`adam`) are fused through [`ModelBackend`]
//! (`model`), the extension of burn's `Backend` the models and their training are generic over; other
//! backends keep burn's modules and optimiser. The first
//! operation asks the C allocator to keep freed memory (`keep_freed_memory`). Each replaced operation is
//! checked against flex on random shapes and values in `tests/backend.rs`; `benches/README.md` has the
//! numbers.

mod adam;
mod conv;
mod copy;
mod delegate;
mod gemm;
mod model;
mod norm;
mod pool;

pub use adam::FusedAdam;
pub use model::{ModelBackend, TrainBackend, batch_norm, batch_norm_relu};

use burn::backend::Flex;
use burn::backend::flex::{FlexDevice, FlexQTensor, FlexTensor, Layout};
use burn::tensor::backend::{Backend, BackendTypes, DTypeUsageSet};
use burn::tensor::{Bytes, DType, Shape, TensorMetadata};
use std::mem::MaybeUninit;

/// flex with the project's convolution and pooling kernels; see the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

impl BackendTypes for Cpu {
    type Device = FlexDevice;
    type FloatTensorPrimitive = FlexTensor;
    type FloatElem = f32;
    type IntTensorPrimitive = FlexTensor;
    type IntElem = i32;
    type BoolTensorPrimitive = FlexTensor;
    type BoolElem = bool;
    type QuantizedTensorPrimitive = FlexQTensor;
}

impl Backend for Cpu {
    fn name(_device: &FlexDevice) -> String {
        "flex+study".into()
    }

    fn seed(device: &FlexDevice, seed: u64) {
        Flex::seed(device, seed)
    }

    fn dtype_usage(device: &FlexDevice, dtype: DType) -> DTypeUsageSet {
        Flex::dtype_usage(device, dtype)
    }

    fn device_count(type_id: u16) -> usize {
        Flex::device_count(type_id)
    }
}

/// Asks the C allocator, once per process, to keep freed memory for reuse instead of returning it to the
/// system. glibc maps every block above 128 KiB afresh and unmaps it when freed, so each activation of a
/// training step (tens of MiB) is paid again in page faults, which on the machines measured cost more than
/// the operation itself (a ReLU over 64 MiB: 36 ms with, 5 ms without).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
                libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
            }
        });
    }
}

/// The f32 values of a tensor in row-major order, or `None` for another element type.
fn values(tensor: &FlexTensor) -> Option<std::borrow::Cow<'_, [f32]>> {
    keep_freed_memory();
    if tensor.dtype() != DType::F32 {
        return None;
    }
    match tensor.as_slice::<f32>() {
        Some(slice) => Some(std::borrow::Cow::Borrowed(slice)),
        None => Some(std::borrow::Cow::Owned(contiguous_values(tensor))),
    }
}

/// The values of a strided f32 tensor in row-major order, copied a contiguous block at a time (flex's own
/// copy walks the view one index at a time), split over the cores where there are many.
fn contiguous_values(tensor: &FlexTensor) -> Vec<f32> {
    let layout = tensor.layout();
    if !layout.has_positive_strides() {
        return tensor.to_contiguous().storage::<f32>().to_vec();
    }
    let blocks = layout.strided_blocks();
    let len = blocks.block_len();
    copy::strided_values(tensor.storage::<f32>(), blocks.block_starts(), len)
}

/// `tensor`, copied into a buffer of its own where it is a strided f32 view.
fn compact(view: FlexTensor) -> FlexTensor {
    if view.dtype() != DType::F32 || view.as_slice::<f32>().is_some() {
        return view;
    }
    tensor(contiguous_values(&view), view.shape())
}

/// An f32 `tensor` as a contiguous buffer from offset 0 that it holds alone, so that it can be written in
/// place: itself where it already is one, otherwise a copy. Callers check the element type first.
fn owned(tensor: FlexTensor) -> FlexTensor {
    let n = tensor.shape().num_elements();
    if tensor.is_unique() && tensor.layout().contiguous_offsets() == Some((0, n)) {
        return tensor;
    }
    let copy = match values(&tensor).expect("an f32 tensor") {
        std::borrow::Cow::Borrowed(shared) => copy::copied(shared),
        std::borrow::Cow::Owned(copy) => copy,
    };
    self::tensor(copy, tensor.shape())
}

/// `planes · area` values computed plane by plane in parallel and written straight into a new buffer, with
/// no pass of zeros first: `fill(i, dst)` writes the `area` values of plane `i` into `dst` and returns how
/// many it wrote from the start (each caller's `fill` counts what its loops write).
fn by_planes(
    planes: usize,
    area: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) -> usize + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    let n = planes * area;
    let mut out = Vec::with_capacity(n);
    if area > 0 {
        out.spare_capacity_mut()[..n]
            .par_chunks_mut(area)
            .enumerate()
            .for_each(|(i, dst)| assert_eq!(fill(i, dst), area, "plane {i} is short"));
    }
    // SAFETY: each of the `n / area` planes wrote all its `area` values, as its `fill` reports (asserted
    // above; a short plane panics before this line).
    unsafe { out.set_len(n) };
    out
}

/// ReLU as burn's default and PyTorch compute it: zero where `v ≤ 0`, `v` otherwise, so that NaN stays NaN
/// (`f32::max`, as in flex's own ReLU, would turn it into 0 and hide a diverged network).
#[inline(always)]
fn relu_of(v: f32) -> f32 {
    if v <= 0.0 { 0.0 } else { v }
}

/// A contiguous f32 tensor of `shape` holding `data`.
fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape.into()),
        DType::F32,
    )
}
