//! 3×3 convolutions with unit stride and dilation as Winograd's F(m×m, 3×3): each m×m block of outputs (a
//! *tile*) comes from the (m+2)×(m+2) block of inputs around it through element-wise products in a
//! transformed domain: F(2×2) ([`f2`]) does 16 products per tile, 4 per output and channel pair, F(4×4)
//! ([`f4`]) 36, 2.25 per output; im2col does 9. F(4×4) computes outputs and input gradients on maps of at
//! least [`F4_MIN_OUT`] outputs a side, where its tiles fill the transforms' vector lanes and its products
//! are wide enough; F(2×2) those of smaller maps, and every weight gradient.
//!
//! With `U = G g Gᵀ` the transformed kernel and `V = Bᵀ d B` the transformed input tile, the output tile is
//! `Y = Aᵀ (U ⊙ V) A`, summed over input channels. For each transformed position ξ that sum is one matrix
//! product, `M[ξ] = U[ξ] · V[ξ]`: `(out_channels × channels) · (channels × tiles)`.
//!
//! The input gradient is the same convolution of the output gradient with the kernel turned by 180° and its
//! channel axes swapped. The weight gradient is the gradient of the transformed computation itself:
//! `dM = A dY Aᵀ` per output-gradient tile, `dU[ξ] = Σ dM[ξ] · V[ξ]ᵀ` over tiles, `dg = Gᵀ dU G`.

mod f2;
mod f4;

use super::{
    Epilogue, Geometry, Partials, ProductSum, Scratch, partials, per_group, weight_grad_parts,
    with_scratch,
};
use crate::backend::gemm::{View, matmul};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Channels below which the products are too thin for the transform to pay (a first layer on grey
/// images), in and out.
const MIN_CHANNELS: usize = 16;

/// Output rows and columns below which the maps have few tiles for the transforms (ResNet's last stage,
/// 7×7). There F(2×2) pays only where its products are still wide, in two groups of
/// [`F2`]`.min_tiles` tiles or more (a batch of 32 on 7×7 maps: 512 → 512 channels at batch 32 took
/// 51 / 55 / 55 ms per call against im2col's 69 / 73 / 74, forward / input gradient / weight gradient),
/// or where im2col's products are thin, with at most [`THIN_OUT`] output channels (DenseNet-121's
/// 128 → 32 at batch 8: 0.48 / 0.43 / 0.62 ms against 0.69 / 0.65 / 0.64). At batch 8, 512 → 512 took
/// 14.5 / 17.6 / 16.9 ms against im2col's 11.3 / 13.5 / 18.4, and stays with im2col.
const MIN_OUT: usize = 8;

/// Output channels up to which a convolution on small maps takes F(2×2) at any batch (see [`MIN_OUT`]).
const THIN_OUT: usize = 64;

/// Output rows and columns from which F(4×4) computes outputs and input gradients (benches/README.md: whole
/// rows were faster or level with it on 56×56 and 28×28 maps; on 14×14 it was slower than F(2×2)).
const F4_MIN_OUT: usize = 28;

/// Transformed tiles to write: a buffer of matrix rows `stride` apart and the column `at` from which
/// they go, `(values, stride, at)`.
type TilesOut<'a> = (&'a mut [f32], usize, usize);

/// Transformed tiles to read, as [`TilesOut`].
type TilesIn<'a> = (&'a [f32], usize, usize);

/// One F(m×m, 3×3) algorithm: its tile size, how it sizes its products, and its transforms.
struct Algorithm {
    /// Outputs per tile side, m.
    tile: usize,
    /// Transformed positions per tile, (m + 2)².
    points: usize,
    /// Tiles below which a product takes several images at once.
    min_tiles: usize,
    /// Bytes of transformed input and output tiles per product of one image (a share of a core's L2).
    chunk_bytes: usize,
    /// Writes the transformed input tiles `Bᵀ d B` of tile rows `rows` of one image into columns `at..` of
    /// `v`, whose rows (one per transformed position and channel, position-major) are `stride` apart; tile
    /// rows are written in order and each may write up to [`LANES`] values past its end (see [`padded`]):
    /// `(geometry, image, rows, (v, stride, at))`.
    input: fn(&Geometry, &[f32], Range<usize>, TilesOut<'_>),
    /// Writes the output tiles `Aᵀ M A` of tile rows `rows` of one image, from columns `at..` of `m` (rows
    /// one per transformed position and output channel, `stride` apart), into that image's output: every
    /// value of its output rows `m·rows.start..m·rows.end` (those inside the output):
    /// `(geometry, (m, stride, at), rows, output)`.
    output: fn(&Geometry, TilesIn<'_>, Range<usize>, &mut [MaybeUninit<f32>]),
    /// `G g Gᵀ` of every `(out, in)` kernel of `weight` (`out × in × 3 × 3`), as `points` `out × in`
    /// matrices.
    kernel: fn(&[f32]) -> Vec<f32>,
}

/// F(2×2, 3×3).
const F2: Algorithm = Algorithm {
    tile: f2::TILE,
    points: f2::POINTS,
    min_tiles: 256,
    chunk_bytes: 1 << 20,
    input: f2::transform_input,
    output: f2::transform_output,
    kernel: f2::transform_kernel,
};

/// F(4×4, 3×3). An image has a quarter of F(2×2)'s tiles, so fewer tiles make a product worth taking
/// alone, and more go into one.
const F4: Algorithm = Algorithm {
    tile: f4::TILE,
    points: f4::POINTS,
    min_tiles: 64,
    chunk_bytes: 2 << 20,
    input: f4::transform_input,
    output: f4::transform_output,
    kernel: f4::transform_kernel,
};

impl Geometry {
    /// Whether the convolution is one the transform computes: a 3×3 kernel with unit stride and dilation,
    /// padding of at most 2 (so the input gradient is one too), enough channels and outputs.
    pub(super) fn winograd(&self) -> bool {
        self.kernel == [3, 3]
            && self.stride == [1, 1]
            && self.dilation == [1, 1]
            && self.padding.iter().all(|&p| p <= 2)
            && self.channels.min(self.out_channels) >= MIN_CHANNELS
            && (self.out.iter().all(|&o| o >= MIN_OUT) || self.small_maps_pay())
    }

    /// Whether F(2×2) pays on maps smaller than [`MIN_OUT`] a side: two groups of wide products, or
    /// thin ones through im2col.
    fn small_maps_pay(&self) -> bool {
        let tiles: usize = self.tile_grid(F2.tile).iter().product();
        self.batch * tiles >= 2 * F2.min_tiles || self.out_channels <= THIN_OUT
    }

    /// Whether F(4×4) computes this convolution.
    fn large_maps(&self) -> bool {
        self.out.iter().all(|&o| o >= F4_MIN_OUT)
    }

    /// Tile rows and columns of `tile × tile` output blocks, the last ones reaching past output sizes that
    /// are not multiples of `tile`.
    fn tile_grid(&self, tile: usize) -> [usize; 2] {
        self.out.map(|o| o.div_ceil(tile))
    }

    /// The convolution whose output is this one's input gradient: the output gradient convolved with the
    /// kernel turned by 180°, channel axes swapped, padding `2 − p`.
    fn transposed(&self) -> Geometry {
        Geometry {
            channels: self.out_channels,
            height: self.out[0],
            width: self.out[1],
            out_channels: self.channels,
            out: [self.height, self.width],
            padding: self.padding.map(|p| 2 - p),
            ..*self
        }
    }

    /// Tile-row ranges of a group of `count` images for one round of products: whole images for a group,
    /// rows whose transformed tiles fit in about `a.chunk_bytes` for one image.
    fn tile_rows(&self, count: usize, a: &Algorithm) -> Vec<Range<usize>> {
        let [rows, cols] = self.tile_grid(a.tile);
        let tile_bytes = a.points * (self.channels + self.out_channels) * 4;
        let step = if count > 1 {
            rows
        } else {
            (a.chunk_bytes / tile_bytes / cols.max(1)).clamp(1, rows.max(1))
        };
        (0..rows)
            .step_by(step)
            .map(|r| r..(r + step).min(rows))
            .collect()
    }
}

// The transforms are free functions compiled once per vector instruction set (AVX-512, AVX2 with FMA,
// SSE4.1, NEON) and chosen at run time: the build targets baseline x86-64, where their loops would be four
// lanes wide.

/// Tiles per block of the transforms: one vector register holds a value of each of a block's tiles.
const LANES: usize = 8;

/// `LANES` tiles' values of one transformed position or input column.
type Lanes = [f32; LANES];

/// `values[at..at + LANES]`.
#[inline(always)]
fn lanes(values: &[f32], at: usize) -> Lanes {
    values[at..at + LANES].try_into().expect("LANES values")
}

/// Lane-wise `f` of the lanes' values.
#[inline(always)]
fn lanewise<const N: usize>(x: [Lanes; N], f: impl Fn([f32; N]) -> f32) -> Lanes {
    std::array::from_fn(|l| f(std::array::from_fn(|i| x[i][l])))
}

/// A block of [`LANES`] consecutive tiles of one tile row.
struct Block {
    /// The tile row.
    row: usize,
    /// Its place among the tile rows transformed together (0 for the first).
    nth: usize,
    /// The block's first tile, counted within the tile row.
    tile: usize,
    /// The column of the block's first tile in the transformed matrices.
    column: usize,
}

/// The blocks of tile rows `rows` of `cols` tiles each, whose transformed values start at column `at` (see
/// [`padded`]).
#[inline(always)]
fn blocks(rows: Range<usize>, cols: usize, at: usize) -> impl Iterator<Item = Block> {
    rows.enumerate().flat_map(move |(nth, row)| {
        (0..cols.div_ceil(LANES)).map(move |b| Block {
            row,
            nth,
            tile: b * LANES,
            column: at + nth * cols + b * LANES,
        })
    })
}

/// Row stride of `v` and `m` for `columns` tiles: [`LANES`] more, so that the last block of a tile row
/// may write (and the output transform read) whole lanes past it: into the next tile row's columns,
/// which that tile row writes afterwards, or into this padding.
fn padded(columns: usize) -> usize {
    columns + LANES
}

/// `G g Gᵀ` of every kernel `g` of `weight` (`out × in × 3 × 3`) as `S²` matrices of `out × in` values,
/// one task per row of `S` transformed positions: `row(g, r)` is row `r` of one kernel's `G g Gᵀ`.
fn transform_kernels<const S: usize>(
    weight: &[f32],
    row: impl Fn(&[f32], usize) -> [f32; S] + Sync,
) -> Vec<f32> {
    let pairs = weight.len() / 9;
    let mut u = vec![0.0f32; S * S * pairs];
    u.par_chunks_mut(S * pairs)
        .enumerate()
        .for_each(|(r, points)| {
            for (pair, g) in weight.chunks_exact(9).enumerate() {
                for (s, value) in row(g, r).into_iter().enumerate() {
                    points[s * pairs + pair] = value;
                }
            }
        });
    u
}

/// The kernel turned by 180° with its channel axes swapped: `in × out × 3 × 3`.
fn flip_kernel(weight: &[f32], out: usize, channels: usize) -> Vec<f32> {
    let mut flipped = vec![0.0f32; weight.len()];
    for k in 0..out {
        for c in 0..channels {
            let src = &weight[(k * channels + c) * 9..][..9];
            let dst = &mut flipped[(c * out + k) * 9..][..9];
            dst.iter_mut()
                .zip(src.iter().rev())
                .for_each(|(d, s)| *d = *s);
        }
    }
    flipped
}

/// Output of the convolution of `x` with `weight`, `batch × out_channels × out_h × out_w`, each block of
/// output rows finished by `epilogue` as soon as it is transformed.
pub(super) fn conv2d(g: &Geometry, x: &[f32], weight: &[f32], epilogue: Epilogue) -> Vec<f32> {
    if g.large_maps() {
        conv2d_as(&F4, g, x, weight, epilogue)
    } else {
        conv2d_as(&F2, g, x, weight, epilogue)
    }
}

/// [`conv2d`] through algorithm `a`.
fn conv2d_as(
    a: &Algorithm,
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    epilogue: Epilogue,
) -> Vec<f32> {
    let (c_in, c_out) = (g.channels, g.out_channels);
    let u = (a.kernel)(weight);
    let [_, cols] = g.tile_grid(a.tile);
    let out_len = c_out * g.positions();
    let group = g.group_of(g.tile_grid(a.tile).iter().product(), a.min_tiles);
    per_group(
        g.batch * out_len,
        out_len,
        group,
        |first, count, dst, scratch, threads| {
            let Scratch { col: v, wide: m } = scratch;
            for rows in g.tile_rows(count, a) {
                let per_image = rows.len() * cols;
                let columns = count * per_image;
                let stride = padded(columns);
                v.resize(a.points * c_in * stride, 0.0);
                m.resize(a.points * c_out * stride, 0.0);
                for j in 0..count {
                    let image = &x[(first + j) * g.image_len()..][..g.image_len()];
                    (a.input)(g, image, rows.clone(), (v, stride, j * per_image));
                }
                for xi in 0..a.points {
                    matmul(
                        (
                            &mut m[xi * c_out * stride..],
                            View::strided(c_out, columns, stride),
                        ),
                        false,
                        (&u[xi * c_out * c_in..], View::dense(c_out, c_in)),
                        (
                            &v[xi * c_in * stride..],
                            View::strided(c_in, columns, stride),
                        ),
                        threads,
                    );
                }
                for (j, image) in dst.chunks_exact_mut(out_len).enumerate() {
                    (a.output)(g, (m, stride, j * per_image), rows.clone(), image);
                    if !epilogue.is_empty() {
                        let [oh, ow] = g.out;
                        let lines = a.tile * rows.start..(a.tile * rows.end).min(oh);
                        for (c, plane) in image.chunks_exact_mut(oh * ow).enumerate() {
                            let at = ((first + j) * c_out + c) * oh * ow + lines.start * ow;
                            let written = &mut plane[lines.start * ow..lines.end * ow];
                            // SAFETY: the output transform has just written these lines whole.
                            epilogue.apply(c, unsafe { written.assume_init_mut() }, at);
                        }
                    }
                }
            }
        },
    )
}

/// Input gradient from the output gradient `grad`.
pub(super) fn input_grad(g: &Geometry, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let flipped = flip_kernel(weight, g.out_channels, g.channels);
    conv2d(&g.transposed(), grad, &flipped, Epilogue::default())
}

/// Weight gradient from the input `x` and the output gradient `grad`, summed over a fixed number of
/// partial sums (fewer where the kernel is large) so the result does not depend on the thread count.
/// Through F(2×2) on every map size: F(4×4)'s weight gradient was no faster (benches/README.md).
pub(super) fn weight_grad(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let (c_in, c_out) = (g.channels, g.out_channels);
    let size = F2.points * c_in * c_out;
    let [rows, cols] = g.tile_grid(F2.tile);
    let per_image = rows * cols;
    let parts = weight_grad_parts(size, g.batch * per_image);
    let group = g.group_of(per_image, F2.min_tiles);
    let layout = View::weight_gradient(c_out, c_in);
    let du = partials(g.batch, parts, size, |images, threads| {
        let mut du = ProductSum::new(size);
        with_scratch(|Scratch { col: v, wide: dm }| {
            for first in images.clone().step_by(group) {
                let count = group.min(images.end - first);
                let columns = count * per_image;
                let stride = padded(columns);
                v.resize(F2.points * c_in * stride, 0.0);
                dm.resize(F2.points * c_out * stride, 0.0);
                for j in 0..count {
                    let n = first + j;
                    let image = &x[n * g.image_len()..][..g.image_len()];
                    (F2.input)(g, image, 0..rows, (v, stride, j * per_image));
                    let out_len = c_out * g.positions();
                    let image_grad = &grad[n * out_len..][..out_len];
                    f2::transform_grad(g, image_grad, 0..rows, (dm, stride, j * per_image));
                }
                for xi in 0..F2.points {
                    du.add(
                        xi * c_out * c_in,
                        layout,
                        (
                            &dm[xi * c_out * stride..],
                            View::strided(c_out, columns, stride),
                        ),
                        (
                            &v[xi * c_in * stride..],
                            View::strided(c_in, columns, stride).t(),
                        ),
                        threads,
                    );
                }
                // SAFETY: the products wrote the `c_out × c_in` blocks of all points, every value.
                unsafe { du.end_round() };
            }
        });
        du.into_values()
    });
    f2::untransform_kernel(&du, layout)
}
