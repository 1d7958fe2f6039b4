//! Winograd's F(2×2, 3×3): each 2×2 block of outputs comes from the 4×4 block of inputs around it through
//! 16 element-wise products, 4 multiplications per output and channel pair where im2col does 9. All
//! transforms have entries 0, ±½ and ±1, so the results stay within rounding of the direct sum.

use super::{Block, Geometry, LANES, Lanes, Partials, blocks, lanes, lanewise};
use crate::backend::gemm::View;
use multiversion::multiversion;
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Outputs per tile side.
pub(super) const TILE: usize = 2;

/// Transformed positions per tile.
pub(super) const POINTS: usize = 16;

/// The four combinations `Bᵀ x` of four values (rows or columns of a tile): x0 − x2, x1 + x2, x2 − x1,
/// x1 − x3.
#[inline(always)]
fn input_combinations([x0, x1, x2, x3]: [Lanes; 4]) -> [Lanes; 4] {
    [
        lanewise([x0, x2], |[a, b]| a - b),
        lanewise([x1, x2], |[a, b]| a + b),
        lanewise([x2, x1], |[a, b]| a - b),
        lanewise([x1, x3], |[a, b]| a - b),
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

/// Writes the transformed input tiles `Bᵀ d B` of tile rows `rows` of one image into columns `at..` of `v`,
/// whose rows (one per transformed position and channel, position-major) are `stride` apart; tile rows are
/// written in order and each may write up to [`LANES`] values past its end (see [`padded`](super::padded)).
#[multiversion(targets = "simd")]
pub(super) fn transform_input(
    g: &Geometry,
    image: &[f32],
    rows: Range<usize>,
    (v, stride, at): (&mut [f32], usize, usize),
) {
    let [_, cols] = g.tile_grid(TILE);
    let (h, w, [top, left]) = (g.height, g.width, g.padding);
    // The input lines under the tile rows, zero-padded to whole blocks, each as its even then its odd
    // positions: the nth tile row reads lines 2·nth … 2·nth + 3, tile j the columns even[j], odd[j],
    // even[j + 1], odd[j + 1].
    let block_count = cols.div_ceil(LANES);
    let half = block_count * LANES + 1;
    let first_line = 2 * rows.start;
    let mut lines = vec![0.0f32; (2 * rows.len() + 2) * 2 * half];
    for c in 0..g.channels {
        let plane = &image[c * h * w..][..h * w];
        for (a, line) in lines.chunks_exact_mut(2 * half).enumerate() {
            let y = (first_line + a).wrapping_sub(top);
            let row = if y < h { &plane[y * w..][..w] } else { &[] };
            deinterleave(row, left, line);
        }
        for Block {
            nth,
            tile: j,
            column,
            ..
        } in blocks(rows.clone(), cols, at)
        {
            // The block's 4×4 inputs, row-combined (Bᵀ d), then column-combined (· B).
            let tile_rows: [[Lanes; 4]; 4] = std::array::from_fn(|a| {
                let (even, odd) = lines[(2 * nth + a) * 2 * half..][..2 * half].split_at(half);
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
                    let at = ((4 * r + s) * g.channels + c) * stride + column;
                    v[at..at + LANES].copy_from_slice(&values);
                }
            }
        }
    }
}

/// Writes the output tiles `Aᵀ M A` of tile rows `rows` of one image, from columns `at..` of `m` (rows one
/// per transformed position and output channel, `stride` apart, [`padded`](super::padded)), into that image's
/// output: every value of its output rows `2·rows.start..2·rows.end` (those inside the output).
#[multiversion(targets = "simd")]
pub(super) fn transform_output(
    g: &Geometry,
    (m, stride, at): (&[f32], usize, usize),
    rows: Range<usize>,
    out: &mut [MaybeUninit<f32>],
) {
    let ([oh, ow], [_, cols]) = (g.out, g.tile_grid(TILE));
    let k_count = g.out_channels;
    for k in 0..k_count {
        let plane = &mut out[k * oh * ow..][..oh * ow];
        for Block {
            row: i,
            tile: j,
            column,
            ..
        } in blocks(rows.clone(), cols, at)
        {
            let point = |xi: usize| lanes(m, (xi * k_count + k) * stride + column);
            // Rows of Aᵀ M for each of M's columns, then their column combinations.
            let columns: [[Lanes; 2]; 4] =
                std::array::from_fn(|s| output_combinations([0, 4, 8, 12].map(|r| point(r + s))));
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

/// Writes `A dY Aᵀ` of the output-gradient tiles of tile rows `rows` of one image (its gradient is `grad`)
/// into columns `at..` of `dm`, laid out as [`transform_output`] reads `m`; the parts of tiles past the
/// output are zero.
#[multiversion(targets = "simd")]
pub(super) fn transform_grad(
    g: &Geometry,
    grad: &[f32],
    rows: Range<usize>,
    (dm, stride, at): (&mut [f32], usize, usize),
) {
    let ([oh, ow], [_, cols]) = (g.out, g.tile_grid(TILE));
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
pub(super) fn transform_kernel(weight: &[f32]) -> Vec<f32> {
    // G x of three values (a row or column): x0, (x0 + x1 + x2)/2, (x0 − x1 + x2)/2, x2.
    let combinations = |[a, b, d]: [f32; 3]| [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d];
    super::transform_kernels(weight, |g, r| {
        // Row r of G g (G of each of the kernel's columns), then G of that row.
        let row = std::array::from_fn(|c| combinations([g[c], g[3 + c], g[6 + c]])[r]);
        combinations(row)
    })
}

/// `Gᵀ dU G` back to `out × in × 3 × 3` from 16 `out × in` matrices (the sum of `du`'s partials), each
/// laid out as `layout`; one task per output channel.
pub(super) fn untransform_kernel(du: &Partials, layout: View) -> Vec<f32> {
    let (out, channels) = (layout.rows, layout.cols);
    let pairs = out * channels;
    let mut dg = vec![0.0f32; pairs * 9];
    if channels == 0 {
        return dg;
    }
    dg.par_chunks_mut(9 * channels)
        .enumerate()
        .for_each(|(k, kernels)| untransform_row(du, layout, k, kernels));
    dg
}

/// [`untransform_kernel`] of the kernels of output channel `k`, into `kernels` (`channels × 3 × 3`).
fn untransform_row(du: &Partials, layout: View, k: usize, kernels: &mut [f32]) {
    let pairs = layout.rows * layout.cols;
    for (c, g) in kernels.chunks_exact_mut(9).enumerate() {
        let within = layout.at(k, c);
        let at = |r: usize, s: usize| du.sum((4 * r + s) * pairs + within);
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
}
