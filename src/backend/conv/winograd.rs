//! 3×3 convolutions with unit stride and dilation as Winograd's F(2×2, 3×3): each 2×2 block of outputs (a
//! *tile*) comes from the 4×4 block of inputs around it through 16 element-wise products in a transformed
//! domain, so the matrix products do 16 multiplications per tile and channel pair where im2col does 36.
//!
//! With `U = G g Gᵀ` the transformed kernel and `V = Bᵀ d B` the transformed input tile, the output tile is
//! `Y = Aᵀ (U ⊙ V) A`, summed over input channels. For each of the 16 transformed positions ξ that sum is
//! one matrix product, `M[ξ] = U[ξ] · V[ξ]`: `(out_channels × channels) · (channels × tiles)`.
//!
//! The input gradient is the same convolution of the output gradient with the kernel turned by 180° and its
//! channel axes swapped. The weight gradient is the gradient of the transformed computation itself:
//! `dM = A dY Aᵀ` per output-gradient tile, `dU[ξ] = Σ dM[ξ] · V[ξ]ᵀ` over tiles, `dg = Gᵀ dU G`. All
//! transforms have entries 0, ±½ and ±1, so the results stay within rounding of the direct sum.

use super::{
    Epilogue, Geometry, Scratch, per_group, sum_of_parts, weight_grad_parts, with_scratch,
};
use crate::backend::gemm::{View, matmul};
use multiversion::multiversion;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Transformed positions per tile.
const POINTS: usize = 16;

/// Channels below which the products are too thin for the transform to pay (a first layer on grey
/// images), in and out.
const MIN_CHANNELS: usize = 16;

/// Output rows and columns below which the maps have too few tiles for the transforms to pay (ResNet's
/// last stage, 7×7, is as fast through im2col).
const MIN_OUT: usize = 8;

/// Tiles below which a product takes several images at once.
const MIN_TILES: usize = 256;

/// Bytes of transformed input and output tiles per product (a share of a core's L2 cache).
const CHUNK_BYTES: usize = 1 << 20;

impl Geometry {
    /// Whether the convolution is one the transform computes: a 3×3 kernel with unit stride and dilation,
    /// padding of at most 2 (so the input gradient is one too), enough channels and outputs.
    pub(super) fn winograd(&self) -> bool {
        self.kernel == [3, 3]
            && self.stride == [1, 1]
            && self.dilation == [1, 1]
            && self.padding.iter().all(|&p| p <= 2)
            && self.channels.min(self.out_channels) >= MIN_CHANNELS
            && self.out.iter().all(|&o| o >= MIN_OUT)
    }

    /// Tile rows and columns: 2×2 output blocks, the last ones reaching past odd output sizes.
    fn tile_grid(&self) -> [usize; 2] {
        [self.out[0].div_ceil(2), self.out[1].div_ceil(2)]
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
    /// rows whose transformed tiles fit in about [`CHUNK_BYTES`] for one image.
    fn tile_rows(&self, count: usize) -> Vec<Range<usize>> {
        let [rows, cols] = self.tile_grid();
        let tile_bytes = POINTS * (self.channels + self.out_channels) * 4;
        let step = if count > 1 {
            rows
        } else {
            (CHUNK_BYTES / tile_bytes / cols.max(1)).clamp(1, rows.max(1))
        };
        (0..rows)
            .step_by(step)
            .map(|r| r..(r + step).min(rows))
            .collect()
    }
}

// The transforms are free functions compiled once per vector instruction set (AVX2 with FMA, SSE4.2 and
// baseline on x86-64) and chosen at run time: the build targets baseline x86-64, where their loops would be
// four lanes wide.

/// Tiles per block of the transforms: a block's values stay in vector registers from the input to `v`.
const LANES: usize = 8;

/// `LANES` tiles' values of one transformed position or input column.
type Lanes = [f32; LANES];

/// `values[at..at + LANES]`.
#[inline(always)]
fn lanes(values: &[f32], at: usize) -> Lanes {
    values[at..at + LANES].try_into().expect("LANES values")
}

/// Lane-wise `f(a, b)`.
#[inline(always)]
fn lanewise(a: Lanes, b: Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
    std::array::from_fn(|l| f(a[l], b[l]))
}

/// The four combinations `Bᵀ x` of four values (rows or columns of a tile): x0 − x2, x1 + x2, x2 − x1,
/// x1 − x3.
#[inline(always)]
fn input_combinations([x0, x1, x2, x3]: [Lanes; 4]) -> [Lanes; 4] {
    let sub = |a, b| lanewise(a, b, |a, b| a - b);
    [
        sub(x0, x2),
        lanewise(x1, x2, |a, b| a + b),
        sub(x2, x1),
        sub(x1, x3),
    ]
}

/// The two combinations `Aᵀ x` of four values (rows or columns of a transformed output tile):
/// x0 + x1 + x2, x1 − x2 − x3.
#[inline(always)]
fn output_combinations([x0, x1, x2, x3]: [Lanes; 4]) -> [Lanes; 2] {
    [
        std::array::from_fn(|l| x0[l] + x1[l] + x2[l]),
        std::array::from_fn(|l| x1[l] - x2[l] - x3[l]),
    ]
}

/// Row stride of `v` and `m` for `columns` tiles: [`LANES`] more, so that the last block of a tile row
/// may write (and the output transform read) whole lanes past it: into the next tile row's columns,
/// which that tile row writes afterwards, or into this padding.
fn padded(columns: usize) -> usize {
    columns + LANES
}

/// Writes the transformed input tiles `Bᵀ d B` of tile rows `rows` of one image into columns `at..` of
/// `v`, whose rows (one per transformed position and channel, position-major) are `stride` apart; tile
/// rows are written in order and each may write up to [`LANES`] values past its end (see [`padded`]).
#[multiversion(targets = "simd")]
fn transform_input(
    g: &Geometry,
    image: &[f32],
    rows: Range<usize>,
    (v, stride, at): (&mut [f32], usize, usize),
) {
    let [_, cols] = g.tile_grid();
    let (h, w, [top, left]) = (g.height, g.width, g.padding);
    // The input lines under the tile rows, zero-padded to whole blocks, each as its even then its odd
    // positions: tile row ti reads lines 2·ti … 2·ti + 3, tile j the columns even[j], odd[j],
    // even[j + 1], odd[j + 1].
    let blocks = cols.div_ceil(LANES);
    let half = blocks * LANES + 1;
    let first_line = 2 * rows.start;
    let mut lines = vec![0.0f32; (2 * rows.len() + 2) * 2 * half];
    for c in 0..g.channels {
        let plane = &image[c * h * w..][..h * w];
        for (a, line) in lines.chunks_exact_mut(2 * half).enumerate() {
            let y = (first_line + a).wrapping_sub(top);
            let row = if y < h { &plane[y * w..][..w] } else { &[] };
            deinterleave(row, left, line);
        }
        for ti in 0..rows.len() {
            let col = at + ti * cols;
            for j in (0..blocks).map(|b| b * LANES) {
                // The block's 4×4 inputs, row-combined (Bᵀ d), then column-combined (· B).
                let tile_rows: [[Lanes; 4]; 4] = std::array::from_fn(|a| {
                    let (even, odd) = lines[(2 * ti + a) * 2 * half..][..2 * half].split_at(half);
                    [
                        lanes(even, j),
                        lanes(odd, j),
                        lanes(even, j + 1),
                        lanes(odd, j + 1),
                    ]
                });
                let combined: [[Lanes; 4]; 4] =
                    std::array::from_fn(|q| input_combinations(tile_rows.map(|row| row[q])));
                for r in 0..4 {
                    let transformed = input_combinations(combined.map(|column| column[r]));
                    for (s, values) in transformed.into_iter().enumerate() {
                        let at = ((4 * r + s) * g.channels + c) * stride + col + j;
                        v[at..at + LANES].copy_from_slice(&values);
                    }
                }
            }
        }
    }
}

/// Writes the output tiles `Aᵀ M A` of tile rows `rows` of one image, from columns `at..` of `m` (rows one
/// per transformed position and output channel, `stride` apart, [`padded`]), into that image's output:
/// every value of its output rows `2·rows.start..2·rows.end` (those inside the output).
#[multiversion(targets = "simd")]
fn transform_output(
    g: &Geometry,
    (m, stride, at): (&[f32], usize, usize),
    rows: Range<usize>,
    out: &mut [MaybeUninit<f32>],
) {
    let ([oh, ow], [_, cols]) = (g.out, g.tile_grid());
    let k_count = g.out_channels;
    let blocks = cols.div_ceil(LANES);
    for k in 0..k_count {
        let plane = &mut out[k * oh * ow..][..oh * ow];
        for (ti, i) in rows.clone().enumerate() {
            let col = at + ti * cols;
            for j in (0..blocks).map(|b| b * LANES) {
                let point = |xi: usize| lanes(m, (xi * k_count + k) * stride + col + j);
                // Rows of Aᵀ M for each of M's columns, then their column combinations.
                let columns: [[Lanes; 2]; 4] = std::array::from_fn(|s| {
                    output_combinations([0, 4, 8, 12].map(|r| point(r + s)))
                });
                for a in 0..2 {
                    let y = 2 * i + a;
                    if y >= oh {
                        continue;
                    }
                    let [even, odd] = output_combinations(columns.map(|column| column[a]));
                    let pairs: [f32; 2 * LANES] =
                        std::array::from_fn(|p| if p % 2 == 0 { even[p / 2] } else { odd[p / 2] });
                    let line = &mut plane[y * ow..][..ow];
                    let reach = (ow - 2 * j).min(2 * LANES);
                    line[2 * j..2 * j + reach].write_copy_of_slice(&pairs[..reach]);
                }
            }
        }
    }
}

/// Writes `A dY Aᵀ` of the output-gradient tiles of tile rows `rows` of one image (its gradient is `grad`)
/// into columns `at..` of `dm`, laid out as [`transform_output`] reads `m`; the parts of tiles past the
/// output are zero.
#[multiversion(targets = "simd")]
fn transform_grad(
    g: &Geometry,
    grad: &[f32],
    rows: Range<usize>,
    (dm, stride, at): (&mut [f32], usize, usize),
) {
    let ([oh, ow], [_, cols]) = (g.out, g.tile_grid());
    let k_count = g.out_channels;
    // The tile's two gradient rows, each as even then odd positions; and A q: q0, q0 + q1, q0 − q1, −q1.
    let len = 2 * cols;
    let mut lines = vec![0.0f32; 2 * len];
    let mut combined = vec![0.0f32; 4 * len];
    for k in 0..k_count {
        let plane = &grad[k * oh * ow..][..oh * ow];
        for (ti, i) in rows.clone().enumerate() {
            for (a, line) in lines.chunks_exact_mut(len).enumerate() {
                let y = 2 * i + a;
                let row = if y < oh { &plane[y * ow..][..ow] } else { &[] };
                deinterleave(row, 0, line);
            }
            let (q0, q1) = (&lines[..len], &lines[len..2 * len]);
            let [z0, z1, z2, z3] = quarters_mut(&mut combined, len);
            combine(z0, q0, q1, |a, _| a);
            combine(z1, q0, q1, |a, b| a + b);
            combine(z2, q0, q1, |a, b| a - b);
            combine(z3, q0, q1, |_, b| -b);
            let col = at + ti * cols;
            for (r, z) in combined.chunks_exact(len).enumerate() {
                // The same combinations of the tile's two columns, even[j] and odd[j].
                let (even, odd) = (&z[..cols], &z[cols..2 * cols]);
                let at = |s: usize| ((4 * r + s) * k_count + k) * stride + col;
                let [d0, d1, d2, d3] = rows_mut(dm, [at(0), at(1), at(2), at(3)], cols);
                combine(d0, even, odd, |a, _| a);
                combine(d1, even, odd, |a, b| a + b);
                combine(d2, even, odd, |a, b| a - b);
                combine(d3, even, odd, |_, b| -b);
            }
        }
    }
}

/// Places `row` at offset `shift` of a zero line of `line.len()` values, stored as the line's even
/// positions followed by its odd positions (each half `line.len() / 2` long).
#[inline(always)]
fn deinterleave(row: &[f32], shift: usize, line: &mut [f32]) {
    line.fill(0.0);
    let (even, odd) = line.split_at_mut(line.len() / 2);
    // Values at even offsets of `row` land on the parity of `shift`.
    let (first, second) = if shift.is_multiple_of(2) {
        (&mut even[shift / 2..], &mut odd[shift / 2..])
    } else {
        (&mut odd[shift / 2..], &mut even[shift.div_ceil(2)..])
    };
    for ((pair, a), b) in row
        .chunks_exact(2)
        .zip(first.iter_mut())
        .zip(second.iter_mut())
    {
        *a = pair[0];
        *b = pair[1];
    }
    if row.len() % 2 == 1 {
        first[row.len() / 2] = row[row.len() - 1];
    }
}

/// `dst[j] = f(a[j], b[j])`: one store stream per loop, so that it vectorises.
#[inline(always)]
fn combine(dst: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for (d, (a, b)) in dst.iter_mut().zip(a.iter().zip(b)) {
        *d = f(*a, *b);
    }
}

/// The first four runs of `len` values of `values`, writable.
#[inline(always)]
fn quarters_mut(values: &mut [f32], len: usize) -> [&mut [f32]; 4] {
    let [a, b, c, d] = rows_mut(values, [0, len, 2 * len, 3 * len], len);
    [a, b, c, d]
}

/// Four disjoint runs of `len` values of `values` starting at `starts`, which ascend.
#[inline(always)]
fn rows_mut(values: &mut [f32], starts: [usize; 4], len: usize) -> [&mut [f32]; 4] {
    let (a, rest) = values[starts[0]..].split_at_mut(starts[1] - starts[0]);
    let (b, rest) = rest.split_at_mut(starts[2] - starts[1]);
    let (c, d) = rest.split_at_mut(starts[3] - starts[2]);
    [&mut a[..len], &mut b[..len], &mut c[..len], &mut d[..len]]
}

/// `G g Gᵀ` of every `(out, in)` kernel of `weight` (`out × in × 3 × 3`), as 16 `out × in` matrices.
fn transform_kernel(weight: &[f32], out: usize, channels: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; POINTS * out * channels];
    for (pair, g) in weight.chunks_exact(9).enumerate() {
        // G g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 of the kernel's rows; then of its columns.
        let rows = |c: usize| {
            let (a, b, d) = (g[c], g[3 + c], g[6 + c]);
            [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d]
        };
        let columns = [rows(0), rows(1), rows(2)];
        for r in 0..4 {
            let (a, b, d) = (columns[0][r], columns[1][r], columns[2][r]);
            let transformed = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
            for (s, value) in transformed.into_iter().enumerate() {
                u[(4 * r + s) * out * channels + pair] = value;
            }
        }
    }
    u
}

/// `Gᵀ dU G` back to `out × in × 3 × 3` from 16 `out × in` matrices, each laid out as `layout`.
fn untransform_kernel(du: &[f32], layout: View) -> Vec<f32> {
    let (out, channels) = (layout.rows, layout.cols);
    let pairs = out * channels;
    let mut dg = vec![0.0f32; pairs * 9];
    for (pair, g) in dg.chunks_exact_mut(9).enumerate() {
        let within = layout.at(pair / channels, pair % channels);
        let at = |r: usize, s: usize| du[(4 * r + s) * pairs + within];
        // Gᵀ x for four values: x0 + (x1 + x2)/2, (x1 − x2)/2, (x1 + x2)/2 + x3.
        let back = |x: [f32; 4]| {
            [
                x[0] + 0.5 * (x[1] + x[2]),
                0.5 * (x[1] - x[2]),
                0.5 * (x[1] + x[2]) + x[3],
            ]
        };
        let rows: [[f32; 3]; 4] =
            std::array::from_fn(|r| back([at(r, 0), at(r, 1), at(r, 2), at(r, 3)]));
        for b in 0..3 {
            let column = back([rows[0][b], rows[1][b], rows[2][b], rows[3][b]]);
            for (a, value) in column.into_iter().enumerate() {
                g[3 * a + b] = value;
            }
        }
    }
    dg
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
    let (c_in, c_out) = (g.channels, g.out_channels);
    let u = transform_kernel(weight, c_out, c_in);
    let [_, cols] = g.tile_grid();
    let out_len = c_out * g.positions();
    let group = g.group_of(g.tile_grid().iter().product(), MIN_TILES);
    per_group(
        g.batch * out_len,
        out_len,
        group,
        |first, count, dst, scratch, threads| {
            let Scratch { col: v, wide: m } = scratch;
            for rows in g.tile_rows(count) {
                let per_image = rows.len() * cols;
                let columns = count * per_image;
                let stride = padded(columns);
                v.resize(POINTS * c_in * stride, 0.0);
                m.resize(POINTS * c_out * stride, 0.0);
                for j in 0..count {
                    let image = &x[(first + j) * g.image_len()..][..g.image_len()];
                    transform_input(g, image, rows.clone(), (v, stride, j * per_image));
                }
                for xi in 0..POINTS {
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
                    transform_output(g, (m, stride, j * per_image), rows.clone(), image);
                    if !epilogue.is_empty() {
                        let [oh, ow] = g.out;
                        let lines = 2 * rows.start..(2 * rows.end).min(oh);
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
pub(super) fn weight_grad(g: &Geometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let (c_in, c_out) = (g.channels, g.out_channels);
    let size = POINTS * c_in * c_out;
    let [rows, cols] = g.tile_grid();
    let per_image = rows * cols;
    let parts = weight_grad_parts(size, g.batch * per_image);
    let group = g.group_of(per_image, MIN_TILES);
    let layout = View::weight_gradient(c_out, c_in);
    let du = sum_of_parts(g.batch, parts, size, |images, threads| {
        let mut du = vec![0.0f32; size];
        with_scratch(|Scratch { col: v, wide: dm }| {
            let mut accumulate = false;
            for first in images.clone().step_by(group) {
                let count = group.min(images.end - first);
                let columns = count * per_image;
                let stride = padded(columns);
                v.resize(POINTS * c_in * stride, 0.0);
                dm.resize(POINTS * c_out * columns, 0.0);
                for j in 0..count {
                    let n = first + j;
                    let image = &x[n * g.image_len()..][..g.image_len()];
                    transform_input(g, image, 0..rows, (v, stride, j * per_image));
                    let out_len = c_out * g.positions();
                    let image_grad = &grad[n * out_len..][..out_len];
                    transform_grad(g, image_grad, 0..rows, (dm, columns, j * per_image));
                }
                for xi in 0..POINTS {
                    matmul(
                        (&mut du[xi * c_out * c_in..], layout),
                        accumulate,
                        (&dm[xi * c_out * columns..], View::dense(c_out, columns)),
                        (
                            &v[xi * c_in * stride..],
                            View::strided(c_in, columns, stride).t(),
                        ),
                        threads,
                    );
                }
                accumulate = true;
            }
        });
        du
    });
    untransform_kernel(&du, layout)
}
