//! 2-D max pooling with indices, forward and backward, one (image, channel) plane per task: the 2×2/2
//! window in one pass, every other window in two (rows, then columns), all without data-dependent branches.
//! And 2-D average pooling over 2×2/2 windows (DenseNet's transitions), forward and backward.
//!
//! Same results as flex, bit for bit: the first maximum in window order wins, indices count within the
//! plane (`y · width + x`, as i64); an average is `(0 + a + b + c + d) / 4` in window order, its gradient
//! `g / 4` at each of the four. `ceil_mode`, other average windows and element types other than f32 go to
//! flex.

use super::{Cpu, tensor, values};
use burn::backend::Flex;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::ops::{
    FloatTensor, IntTensor, MaxPool2dBackward, MaxPool2dWithIndices, ModuleOps,
};
use burn::tensor::{Bytes, DType, Shape, TensorMetadata};
use multiversion::multiversion;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The pooling window, as burn passes it.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub kernel_size: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
}

impl Window {
    /// Output size along `axis` for an input of `size`, or `None` where flex should decide.
    fn out(&self, axis: usize, size: usize) -> Option<usize> {
        let span = self.dilation[axis] * (self.kernel_size[axis].checked_sub(1)?) + 1;
        let padded = size + 2 * self.padding[axis];
        (!self.ceil_mode && self.stride[axis] > 0 && padded >= span)
            .then(|| (padded - span) / self.stride[axis] + 1)
    }

    /// An average-pooling window (no dilation).
    pub fn average(
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        ceil_mode: bool,
    ) -> Self {
        Window {
            kernel_size,
            stride,
            padding,
            dilation: [1, 1],
            ceil_mode,
        }
    }

    /// A 2×2 window with stride 2, no padding or dilation.
    fn halves(&self) -> bool {
        self.kernel_size == [2, 2]
            && self.stride == [2, 2]
            && self.padding == [0, 0]
            && self.dilation == [1, 1]
    }

    /// For every output coordinate along `axis`, the input coordinates its window reads (inside the input).
    fn taps(&self, axis: usize, out: usize, size: usize) -> Vec<Vec<usize>> {
        let (pad, dilation, stride) = (self.padding[axis], self.dilation[axis], self.stride[axis]);
        (0..out)
            .map(|o| {
                (0..self.kernel_size[axis])
                    .filter_map(|k| (o * stride + k * dilation).checked_sub(pad))
                    .filter(|&i| i < size)
                    .collect()
            })
            .collect()
    }
}

/// The common 2×2, stride 2 window without padding, whose maximum is taken without branches (a branch
/// per tap mispredicts on every other image value and costs five times the memory traffic).
fn halve_plane(src: &[f32], width: usize, out: &mut [f32], indices: &mut [i64]) {
    let ow = width / 2;
    for (oy, (out, indices)) in out
        .chunks_exact_mut(ow)
        .zip(indices.chunks_exact_mut(ow))
        .enumerate()
    {
        let top = &src[2 * oy * width..][..width];
        let bottom = &src[(2 * oy + 1) * width..][..width];
        for (ox, (out, index)) in out.iter_mut().zip(indices.iter_mut()).enumerate() {
            let at = (2 * oy * width + 2 * ox) as i64;
            let (a, b, c, d) = (
                top[2 * ox],
                top[2 * ox + 1],
                bottom[2 * ox],
                bottom[2 * ox + 1],
            );
            // Ties keep the earlier position in window order, as flex does.
            let (m0, i0) = if b > a { (b, at + 1) } else { (a, at) };
            let below = at + width as i64;
            let (m1, i1) = if d > c { (d, below + 1) } else { (c, below) };
            (*out, *index) = if m1 > m0 { (m1, i1) } else { (m0, i0) };
        }
    }
}

/// Scratch of [`pool_plane`]: one input row split into the window's stride phases, and each input row's
/// maximum over every output column's taps with the column where it is.
#[derive(Default)]
struct RowMaxima {
    phases: Vec<f32>,
    value: Vec<f32>,
    column: Vec<i64>,
}

/// Any window, as two passes without data-dependent branches: the maximum of each input row over each
/// output column's taps, then of those over each output row's taps (`rows`). The earliest row holding the
/// window's maximum, and in it the earliest column, wins: the first maximum in window order, as flex.
/// A window with no tap inside the input gives −∞ at index −1. Compiled per vector instruction set.
#[multiversion(targets = "simd")]
fn pool_plane(
    src: &[f32],
    (width, ow): (usize, usize),
    window: &Window,
    rows: &[Vec<usize>],
    scratch: &mut RowMaxima,
    (out, indices): (&mut [f32], &mut [i64]),
) {
    let height = src.len() / width.max(1);
    let (stride, pad, dilation) = (window.stride[1], window.padding[1], window.dilation[1]);
    // Input row `x` sits at `u = x + pad` of a line that phase r holds as its `u = q·stride + r`, so that
    // tap t of every output column is one contiguous run of a phase.
    let reach = (ow + (window.kernel_size[1] * dilation).div_ceil(stride)) * stride;
    let phase_len = reach / stride;
    let RowMaxima {
        phases,
        value,
        column,
    } = scratch;
    phases.resize(reach, 0.0);
    value.resize(height * ow, 0.0);
    column.resize(height * ow, 0);
    for (y, line) in src.chunks_exact(width).enumerate() {
        for (r, phase) in phases.chunks_exact_mut(phase_len).enumerate() {
            for (q, slot) in phase.iter_mut().enumerate() {
                *slot = (q * stride + r)
                    .checked_sub(pad)
                    .and_then(|x| line.get(x))
                    .copied()
                    .unwrap_or(f32::NEG_INFINITY);
            }
        }
        let (value, column) = (&mut value[y * ow..][..ow], &mut column[y * ow..][..ow]);
        value.fill(f32::NEG_INFINITY);
        column.fill(-1);
        for t in 0..window.kernel_size[1] {
            let offset = t * dilation;
            let phase = &phases[offset % stride * phase_len + offset / stride..][..ow];
            for (ox, ((best, at), &v)) in value
                .iter_mut()
                .zip(column.iter_mut())
                .zip(phase)
                .enumerate()
            {
                let x = (ox * stride + offset) as i64 - pad as i64;
                let better = (0..width as i64).contains(&x) & ((v > *best) | (*at < 0));
                (*best, *at) = select(better, (v, x), (*best, *at));
            }
        }
    }
    for ((out, indices), taps) in out
        .chunks_exact_mut(ow)
        .zip(indices.chunks_exact_mut(ow))
        .zip(rows)
    {
        out.fill(f32::NEG_INFINITY);
        indices.fill(-1);
        for &y in taps {
            let (value, column) = (&value[y * ow..][..ow], &column[y * ow..][..ow]);
            for (((best, at), &v), &x) in out
                .iter_mut()
                .zip(indices.iter_mut())
                .zip(value)
                .zip(column)
            {
                let better = ((v > *best) | (*at < 0)) & (x >= 0);
                (*best, *at) = select(better, (v, (y * width) as i64 + x), (*best, *at));
            }
        }
    }
}

/// `if take { a } else { b }` as bit operations: compilers turn a plain `if` around a store into a branch,
/// which mispredicts on image values and keeps the loop from vectorising.
#[inline(always)]
fn select(take: bool, a: (f32, i64), b: (f32, i64)) -> (f32, i64) {
    let mask = 0u64.wrapping_sub(take as u64);
    let value = (a.0.to_bits() & mask as u32) | (b.0.to_bits() & !mask as u32);
    (
        f32::from_bits(value),
        (a.1 & mask as i64) | (b.1 & !mask as i64),
    )
}

fn flex_window(x: FlexTensor, w: Window) -> MaxPool2dWithIndices<Cpu> {
    let p = Flex::max_pool2d_with_indices(
        x,
        w.kernel_size,
        w.stride,
        w.padding,
        w.dilation,
        w.ceil_mode,
    );
    MaxPool2dWithIndices::new(p.output, p.indices)
}

pub fn max_pool2d(x: FloatTensor<Cpu>, window: Window) -> MaxPool2dWithIndices<Cpu> {
    let shape = x.shape();
    let (Some(xv), 4) = (values(&x), shape.num_dims()) else {
        return flex_window(x, window);
    };
    let (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3]);
    let (Some(oh), Some(ow), false) = (
        window.out(0, height),
        window.out(1, width),
        height == 0 || width == 0,
    ) else {
        return flex_window(x, window);
    };
    let mut out = vec![f32::NEG_INFINITY; planes * oh * ow];
    let mut indices = vec![-1i64; planes * oh * ow];
    let rows = window.taps(0, oh, height);
    if oh * ow > 0 {
        out.par_chunks_mut(oh * ow)
            .zip(indices.par_chunks_mut(oh * ow))
            .enumerate()
            .for_each_init(RowMaxima::default, |scratch, (plane, (out, indices))| {
                let src = &xv[plane * height * width..][..height * width];
                if window.halves() {
                    return halve_plane(src, width, out, indices);
                }
                pool_plane(src, (width, ow), &window, &rows, scratch, (out, indices));
            });
    }
    let out_shape = [shape[0], shape[1], oh, ow];
    let indices = FlexTensor::new(
        Bytes::from_elems(indices),
        Layout::contiguous(out_shape.into()),
        DType::I64,
    );
    MaxPool2dWithIndices::new(tensor(out, out_shape), indices)
}

pub fn max_pool2d_backward(
    x: FloatTensor<Cpu>,
    window: Window,
    output_grad: FloatTensor<Cpu>,
    indices: IntTensor<Cpu>,
) -> MaxPool2dBackward<Cpu> {
    let (shape, out_shape) = (x.shape(), output_grad.shape());
    let index_values = (indices.dtype() == DType::I64)
        .then(|| indices.as_slice::<i64>())
        .flatten();
    let (Some(gv), Some(iv), 4) = (values(&output_grad), index_values, shape.num_dims()) else {
        let g = Flex::max_pool2d_with_indices_backward(
            x,
            window.kernel_size,
            window.stride,
            window.padding,
            window.dilation,
            window.ceil_mode,
            output_grad,
            indices,
        );
        return MaxPool2dBackward::new(g.x_grad);
    };
    let plane_in = shape[2] * shape[3];
    let plane_out = out_shape[2] * out_shape[3];
    let mut dx = vec![0.0f32; shape.num_elements()];
    if plane_in > 0 && plane_out > 0 {
        dx.par_chunks_mut(plane_in)
            .enumerate()
            .for_each(|(plane, dx)| {
                let grads = &gv[plane * plane_out..][..plane_out];
                let at = &iv[plane * plane_out..][..plane_out];
                for (g, &i) in grads.iter().zip(at) {
                    if let Some(d) = usize::try_from(i).ok().and_then(|i| dx.get_mut(i)) {
                        *d += g;
                    }
                }
            });
    }
    MaxPool2dBackward::new(tensor(dx, shape))
}

/// 2-D average pooling: the 2×2/2 window without padding here, every other one in flex.
pub fn avg_pool2d(
    x: FloatTensor<Cpu>,
    window: Window,
    count_include_pad: bool,
) -> FloatTensor<Cpu> {
    let shape = x.shape();
    let halves = |v| halved_planes(&shape, window).map(|(planes, h, w)| (v, planes, h, w));
    let Some((xv, planes, height, width)) = values(&x).and_then(halves) else {
        return Flex::avg_pool2d(
            x,
            window.kernel_size,
            window.stride,
            window.padding,
            count_include_pad,
            window.ceil_mode,
        );
    };
    let (oh, ow) = (height / 2, width / 2);
    let out = super::by_planes(planes, oh * ow, |plane, out| {
        average_plane(&xv[plane * height * width..][..height * width], width, out)
    });
    tensor(out, [shape[0], shape[1], oh, ow])
}

/// The gradient of [`avg_pool2d`] with respect to its input.
pub fn avg_pool2d_backward(
    x: FloatTensor<Cpu>,
    grad: FloatTensor<Cpu>,
    window: Window,
    count_include_pad: bool,
) -> FloatTensor<Cpu> {
    let shape = x.shape();
    let fits = |(planes, h, w): (usize, usize, usize)| {
        (grad.shape().num_elements() == planes * (h / 2) * (w / 2)).then_some((planes, h, w))
    };
    let planes = halved_planes(&shape, window).and_then(fits);
    let (Some(gv), Some((planes, height, width))) = (values(&grad), planes) else {
        return Flex::avg_pool2d_backward(
            x,
            grad,
            window.kernel_size,
            window.stride,
            window.padding,
            count_include_pad,
            window.ceil_mode,
        );
    };
    let plane_out = (height / 2) * (width / 2);
    let dx = super::by_planes(planes, height * width, |plane, dx| {
        spread_plane(&gv[plane * plane_out..][..plane_out], width, dx)
    });
    tensor(dx, shape)
}

/// `(planes, height, width)` of an NCHW input that the 2×2/2 average takes here (no padding, so
/// `count_include_pad` does not matter; without `ceil_mode` an odd last row or column is left out).
fn halved_planes(shape: &Shape, window: Window) -> Option<(usize, usize, usize)> {
    (shape.num_dims() == 4 && window.halves() && !window.ceil_mode)
        .then(|| (shape[0] * shape[1], shape[2], shape[3]))
        .filter(|&(_, height, width)| height >= 2 && width >= 2)
}

/// The averages of one plane's 2×2 windows, as flex sums them: from 0, in window order, then ÷ 4. The
/// number of values written.
#[multiversion(targets = "simd")]
fn average_plane(src: &[f32], width: usize, out: &mut [MaybeUninit<f32>]) -> usize {
    let ow = width / 2;
    let mut written = 0;
    for (oy, out) in out.chunks_exact_mut(ow).enumerate() {
        let top = &src[2 * oy * width..][..2 * ow];
        let bottom = &src[(2 * oy + 1) * width..][..2 * ow];
        for ((o, t), b) in out
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            o.write((0.0 + t[0] + t[1] + b[0] + b[1]) / 4.0);
        }
        written += ow;
    }
    written
}

/// One plane of the input gradient of [`average_plane`]: `g / 4` at each of a window's four values, zero
/// in an odd last row or column that no window reads. The number of values written.
#[multiversion(targets = "simd")]
fn spread_plane(grad: &[f32], width: usize, dx: &mut [MaybeUninit<f32>]) -> usize {
    let ow = width / 2;
    let mut written = 0;
    for (y, row) in dx.chunks_exact_mut(width).enumerate() {
        let g = grad.chunks_exact(ow).nth(y / 2);
        let (pairs, rest) = row.split_at_mut(g.map_or(0, |_| 2 * ow));
        for (pair, &g) in pairs.chunks_exact_mut(2).zip(g.into_iter().flatten()) {
            pair[0].write(g / 4.0);
            pair[1].write(g / 4.0);
        }
        rest.iter_mut().for_each(|v| _ = v.write(0.0));
        written += width;
    }
    written
}
