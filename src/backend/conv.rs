//! 2-D convolution as im2col + matrix product, forward and both backward passes, in NCHW.
//!
//! Per image, the input patches are unfolded into a `(channels·kh·kw) × (out_h·out_w)` matrix (`col`):
//! forward is `weight · col`, the input gradient folds `weightᵀ · grad` back onto the image, the weight
//! gradient sums `grad · colᵀ` over the batch. Images run in parallel, one per thread; with fewer images
//! than threads each product runs on all threads instead. Grouped convolutions and other element types go
//! to flex.

use super::gemm::{View, matmul};
use super::{Cpu, tensor, values};
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{ConvOptions, FloatTensor, ModuleOps};
use rayon::prelude::*;

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    kernel: [usize; 2],
    out: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
}

impl Geometry {
    /// `None` where the kernels here do not apply (groups, ranks), so the caller hands over to flex.
    fn of(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<Self> {
        let (xs, ws) = (x.shape(), weight.shape());
        if options.groups != 1 || xs.num_dims() != 4 || ws.num_dims() != 4 || xs[1] != ws[1] {
            return None;
        }
        let out = |i: usize| {
            let span = options.dilation[i] * (ws[2 + i] - 1) + 1;
            let padded = xs[2 + i] + 2 * options.padding[i];
            (padded >= span).then(|| (padded - span) / options.stride[i] + 1)
        };
        Some(Geometry {
            batch: xs[0],
            channels: xs[1],
            height: xs[2],
            width: xs[3],
            out_channels: ws[0],
            kernel: [ws[2], ws[3]],
            out: [out(0)?, out(1)?],
            stride: options.stride,
            padding: options.padding,
            dilation: options.dilation,
        })
    }

    fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Rows of `col`: one per input channel and kernel position.
    fn patch_len(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Columns of `col`: one per output position.
    fn positions(&self) -> usize {
        self.out[0] * self.out[1]
    }

    /// A 1×1 convolution with unit stride and no padding, whose `col` is the image itself.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// For kernel offset `k` on `axis`: the output coordinates whose input coordinate
    /// `o · stride + k · dilation − padding` lies inside the input, as a range.
    fn inside(&self, axis: usize, k: usize) -> std::ops::Range<usize> {
        let size = [self.height, self.width][axis] as isize;
        let (stride, out) = (self.stride[axis] as isize, self.out[axis] as isize);
        let shift = (k * self.dilation[axis]) as isize - self.padding[axis] as isize;
        // The smallest o with o·stride + shift ≥ 0 and the first with o·stride + shift ≥ size.
        let first = |bound: isize| ((bound - shift).max(0) + stride - 1) / stride;
        let lo = first(0).min(out);
        let hi = first(size).clamp(lo, out);
        lo as usize..hi as usize
    }

    /// The input coordinate of output coordinate `o` (inside [`Geometry::inside`]) on `axis`.
    fn source(&self, axis: usize, k: usize, o: usize) -> usize {
        o * self.stride[axis] + k * self.dilation[axis] - self.padding[axis]
    }

    /// Unfolds one image into `col` (`patch_len × positions`).
    fn im2col(&self, image: &[f32], col: &mut [f32]) {
        let [kh, kw] = self.kernel;
        let [oh, ow] = self.out;
        let plane = self.height * self.width;
        for (row, dst) in col.chunks_exact_mut(oh * ow).enumerate() {
            let (c, ki, kj) = (row / (kh * kw), row / kw % kh, row % kw);
            let channel = &image[c * plane..][..plane];
            let (rows, cols) = (self.inside(0, ki), self.inside(1, kj));
            for (oy, dst) in dst.chunks_exact_mut(ow).enumerate() {
                if !rows.contains(&oy) || cols.is_empty() {
                    dst.fill(0.0);
                    continue;
                }
                let line = &channel[self.source(0, ki, oy) * self.width..][..self.width];
                dst[..cols.start].fill(0.0);
                dst[cols.end..].fill(0.0);
                let from = self.source(1, kj, cols.start);
                if self.stride[1] == 1 {
                    dst[cols.clone()].copy_from_slice(&line[from..from + cols.len()]);
                } else {
                    let taps = line[from..].iter().step_by(self.stride[1]);
                    dst[cols.clone()]
                        .iter_mut()
                        .zip(taps)
                        .for_each(|(d, s)| *d = *s);
                }
            }
        }
    }

    /// Adds `col` (`patch_len × positions`) back onto one image: the transpose of [`Geometry::im2col`].
    fn col2im(&self, col: &[f32], image: &mut [f32]) {
        let [kh, kw] = self.kernel;
        let [oh, ow] = self.out;
        let plane = self.height * self.width;
        for (row, src) in col.chunks_exact(oh * ow).enumerate() {
            let (c, ki, kj) = (row / (kh * kw), row / kw % kh, row % kw);
            let channel = &mut image[c * plane..][..plane];
            let (rows, cols) = (self.inside(0, ki), self.inside(1, kj));
            if cols.is_empty() {
                continue;
            }
            for oy in rows {
                let line = &mut channel[self.source(0, ki, oy) * self.width..][..self.width];
                let src = &src[oy * ow + cols.start..oy * ow + cols.end];
                let from = self.source(1, kj, cols.start);
                let taps = line[from..].iter_mut().step_by(self.stride[1]);
                taps.zip(src).for_each(|(d, s)| *d += s);
            }
        }
    }

    /// The `col` matrix of image `index` of `x`: the image itself for pointwise convolutions, otherwise
    /// unfolded into `buffer`.
    fn col<'a>(&self, x: &'a [f32], index: usize, buffer: &'a mut Vec<f32>) -> &'a [f32] {
        let image = &x[index * self.image_len()..][..self.image_len()];
        if self.pointwise() {
            return image;
        }
        buffer.resize(self.patch_len() * self.positions(), 0.0);
        self.im2col(image, buffer);
        buffer
    }
}

/// Runs `work(image index, its chunk of out, scratch buffer, threads for its products)` for every image,
/// where image `i` owns `out[i·chunk..(i+1)·chunk]`.
fn per_image(
    out: &mut [f32],
    chunk: usize,
    work: impl Fn(usize, &mut [f32], &mut Vec<f32>, usize) + Sync,
) {
    let threads = rayon::current_num_threads().max(1);
    if out.len() / chunk.max(1) >= threads {
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each_init(Vec::new, |buffer, (i, o)| work(i, o, buffer, 1));
    } else {
        let mut buffer = Vec::new();
        for (i, o) in out.chunks_mut(chunk).enumerate() {
            work(i, o, &mut buffer, threads);
        }
    }
}

pub fn conv2d(
    x: FloatTensor<Cpu>,
    weight: FloatTensor<Cpu>,
    bias: Option<FloatTensor<Cpu>>,
    options: ConvOptions<2>,
) -> FloatTensor<Cpu> {
    let geometry = Geometry::of(&x, &weight, &options);
    let bias_values = bias.as_ref().map(values);
    let (Some(g), Some(xv), Some(wv), None | Some(Some(_))) =
        (geometry, values(&x), values(&weight), &bias_values)
    else {
        return Flex::conv2d(x, weight, bias, options);
    };
    let (k, p, o) = (g.patch_len(), g.positions(), g.out_channels);
    let mut out = vec![0.0; g.batch * o * p];
    per_image(&mut out, o * p, |i, dst, buffer, threads| {
        let col = g.col(&xv, i, buffer);
        matmul(
            (dst, View::dense(o, p)),
            false,
            (&wv, View::dense(o, k)),
            (col, View::dense(k, p)),
            threads,
        );
        if let Some(Some(b)) = &bias_values {
            for (row, b) in dst.chunks_exact_mut(p).zip(b.iter()) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    });
    tensor(out, [g.batch, o, g.out[0], g.out[1]])
}

pub fn conv2d_x_backward(
    x: FloatTensor<Cpu>,
    weight: FloatTensor<Cpu>,
    output_grad: FloatTensor<Cpu>,
    options: ConvOptions<2>,
) -> FloatTensor<Cpu> {
    let (Some(g), Some(wv), Some(gv)) = (
        Geometry::of(&x, &weight, &options),
        values(&weight),
        values(&output_grad),
    ) else {
        return Flex::conv2d_x_backward(x, weight, output_grad, options);
    };
    let (k, p, o) = (g.patch_len(), g.positions(), g.out_channels);
    let weight_t = View::dense(o, k).t();
    let mut dx = vec![0.0; g.batch * g.image_len()];
    per_image(&mut dx, g.image_len(), |i, dst, buffer, threads| {
        let grad = &gv[i * o * p..][..o * p];
        if g.pointwise() {
            matmul(
                (dst, View::dense(k, p)),
                false,
                (&wv, weight_t),
                (grad, View::dense(o, p)),
                threads,
            );
        } else {
            buffer.resize(k * p, 0.0);
            matmul(
                (buffer, View::dense(k, p)),
                false,
                (&wv, weight_t),
                (grad, View::dense(o, p)),
                threads,
            );
            g.col2im(buffer, dst);
        }
    });
    tensor(dx, [g.batch, g.channels, g.height, g.width])
}

/// Partial sums of the weight gradient: a fixed number, whatever the thread count, so the sum is the same
/// on every machine.
const WEIGHT_GRAD_PARTS: usize = 8;

pub fn conv2d_weight_backward(
    x: FloatTensor<Cpu>,
    weight: FloatTensor<Cpu>,
    output_grad: FloatTensor<Cpu>,
    options: ConvOptions<2>,
) -> FloatTensor<Cpu> {
    let (Some(g), Some(xv), Some(gv)) = (
        Geometry::of(&x, &weight, &options),
        values(&x),
        values(&output_grad),
    ) else {
        return Flex::conv2d_weight_backward(x, weight, output_grad, options);
    };
    let (k, p, o) = (g.patch_len(), g.positions(), g.out_channels);
    let threads = rayon::current_num_threads().max(1);
    let parts = WEIGHT_GRAD_PARTS.min(g.batch).max(1);
    let per_part = g.batch.div_ceil(parts);
    // With fewer images than threads, one part on all threads; otherwise a part per task.
    let inner = if g.batch < threads { threads } else { 1 };
    let partial = |part: usize| {
        let mut dw = vec![0.0; o * k];
        let mut buffer = Vec::new();
        let images = part * per_part..((part + 1) * per_part).min(g.batch);
        for (n, i) in images.enumerate() {
            let col = g.col(&xv, i, &mut buffer);
            let grad = &gv[i * o * p..][..o * p];
            let col_t = View::dense(k, p).t();
            matmul(
                (&mut dw, View::dense(o, k)),
                n > 0,
                (grad, View::dense(o, p)),
                (col, col_t),
                inner,
            );
        }
        dw
    };
    let partials: Vec<Vec<f32>> = if inner > 1 {
        (0..parts).map(partial).collect()
    } else {
        (0..parts).into_par_iter().map(partial).collect()
    };
    let mut dw = vec![0.0; o * k];
    for part in &partials {
        dw.iter_mut().zip(part).for_each(|(d, v)| *d += v);
    }
    tensor(dw, weight.shape())
}
