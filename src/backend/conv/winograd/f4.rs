//! Winograd's F(4×4, 3×3) on Lavin and Gray's points 0, ±1, ±2 and ∞: each 4×4 block of outputs comes from
//! the 6×6 block of inputs around it through 36 element-wise products, 2.25 multiplications per output and
//! channel pair. The transforms' entries are small integers and 1/4, 1/6, 1/12 and 1/24: the results stay
//! within a few roundings of the direct sum (tests/backend.rs holds them to 1e-4 of the largest value).
//! It computes outputs and input gradients; weight gradients go through F(2×2) (benches/README.md).

use super::{Block, Geometry, LANES, Lanes, blocks, lanes, lanewise};
use multiversion::multiversion;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Outputs per tile side.
pub(super) const TILE: usize = 4;

/// Inputs per tile side: the tile and the kernel's reach past it.
const SPAN: usize = TILE + 2;

/// Transformed positions per tile.
pub(super) const POINTS: usize = SPAN * SPAN;

/// Entry `c` of each of `rows`: a column of a matrix held as rows (without `[T; N]::map`, which is not
/// always inlined, and then keeps the values out of registers).
#[inline(always)]
fn column<T: Copy, const R: usize, const C: usize>(rows: &[[T; C]; R], c: usize) -> [T; R] {
    let mut values = [rows[0][c]; R];
    for (value, row) in values.iter_mut().zip(rows) {
        *value = row[c];
    }
    values
}

/// The six combinations `Bᵀ x` of six values (rows or columns of an input tile).
#[inline(always)]
fn input_combinations(x: [Lanes; SPAN]) -> [Lanes; SPAN] {
    [
        lanewise(x, |[x0, _, x2, _, x4, _]| 4.0 * x0 - 5.0 * x2 + x4),
        lanewise(x, |[_, x1, x2, x3, x4, _]| (x3 + x4) - 4.0 * (x1 + x2)),
        lanewise(x, |[_, x1, x2, x3, x4, _]| (x4 - x3) + 4.0 * (x1 - x2)),
        lanewise(x, |[_, x1, x2, x3, x4, _]| (x4 - x2) - 2.0 * (x1 - x3)),
        lanewise(x, |[_, x1, x2, x3, x4, _]| (x4 - x2) + 2.0 * (x1 - x3)),
        lanewise(x, |[_, x1, _, x3, _, x5]| 4.0 * x1 - 5.0 * x3 + x5),
    ]
}

/// The four combinations `Aᵀ x` of six values (rows or columns of a transformed output tile).
#[inline(always)]
fn output_combinations(x: [Lanes; SPAN]) -> [Lanes; TILE] {
    [
        lanewise(x, |[x0, x1, x2, x3, x4, _]| x0 + (x1 + x2) + (x3 + x4)),
        lanewise(x, |[_, x1, x2, x3, x4, _]| (x1 - x2) + 2.0 * (x3 - x4)),
        lanewise(x, |[_, x1, x2, x3, x4, _]| (x1 + x2) + 4.0 * (x3 + x4)),
        lanewise(x, |[_, x1, x2, x3, x4, x5]| {
            (x1 - x2) + 8.0 * (x3 - x4) + x5
        }),
    ]
}

/// The six combinations `G g` of a kernel's three values (a row or column).
fn kernel_combinations([g0, g1, g2]: [f32; 3]) -> [f32; SPAN] {
    let (outer, quarter) = (g0 + g2, 0.25 * g0 + g2);
    [
        0.25 * g0,
        -(outer + g1) / 6.0,
        -(outer - g1) / 6.0,
        quarter / 6.0 + g1 / 12.0,
        quarter / 6.0 - g1 / 12.0,
        g2,
    ]
}

/// Writes the transformed input tiles `Bᵀ d B` of tile rows `rows` of one image into columns `at..` of `v`,
/// whose rows (one per transformed position and channel, position-major) are `stride` apart; tile rows are
/// written in order and each may write up to [`LANES`] values past its end (see [`padded`](super::padded)).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
pub(super) fn transform_input(
    g: &Geometry,
    image: &[f32],
    rows: Range<usize>,
    (v, stride, at): (&mut [f32], usize, usize),
) {
    let [_, cols] = g.tile_grid(TILE);
    let (h, w, [top, left]) = (g.height, g.width, g.padding);
    // The input lines under the tile rows, zero-padded to whole blocks, each split into its phases (see
    // [`deinterleave`]): the nth tile row reads lines TILE·nth … TILE·nth + 5, tile j the columns
    // phase[0..TILE][j], then phase[0][j + 1] and phase[1][j + 1].
    let block_count = cols.div_ceil(LANES);
    let phase_len = block_count * LANES + 1;
    let line_len = TILE * phase_len;
    let first_line = TILE * rows.start;
    let mut lines = vec![0.0f32; (TILE * rows.len() + 2) * line_len];
    let mut ordered = Vec::new();
    for c in 0..g.channels {
        let plane = &image[c * h * w..][..h * w];
        for (a, line) in lines.chunks_exact_mut(line_len).enumerate() {
            let y = (first_line + a).wrapping_sub(top);
            let row = if y < h { &plane[y * w..][..w] } else { &[] };
            deinterleave(row, left, line, &mut ordered);
        }
        for Block {
            nth,
            tile: j,
            column: first,
            ..
        } in blocks(rows.clone(), cols, at)
        {
            // Each of the block's six input rows column-combined (d B), then each column of that
            // row-combined (Bᵀ ·): two passes of few live values each.
            let mut half = [[[0.0f32; LANES]; SPAN]; SPAN];
            for (a, combined) in half.iter_mut().enumerate() {
                let line = &lines[(TILE * nth + a) * line_len..][..line_len];
                let mut inputs = [[0.0f32; LANES]; SPAN];
                for (q, x) in inputs.iter_mut().enumerate() {
                    *x = lanes(line, (q % TILE) * phase_len + j + q / TILE);
                }
                *combined = input_combinations(inputs);
            }
            for s in 0..SPAN {
                let transformed = input_combinations(column(&half, s));
                for (r, values) in transformed.iter().enumerate() {
                    let at = ((SPAN * r + s) * g.channels + c) * stride + first;
                    v[at..at + LANES].copy_from_slice(values);
                }
            }
        }
    }
}

/// Writes the output tiles `Aᵀ M A` of tile rows `rows` of one image, from columns `at..` of `m` (rows one
/// per transformed position and output channel, `stride` apart, [`padded`](super::padded)), into that image's
/// output: every value of its output rows `TILE·rows.start..TILE·rows.end` (those inside the output).
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
    "x86_64+avx2+fma",
    "x86_64+sse4.1",
    "aarch64+neon"
))]
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
            column: first,
            ..
        } in blocks(rows.clone(), cols, at)
        {
            // Each of M's columns row-combined (Aᵀ M), then each row of that column-combined
            // (· A).
            let mut half = [[[0.0f32; LANES]; TILE]; SPAN];
            for (s, combined) in half.iter_mut().enumerate() {
                let mut points = [[0.0f32; LANES]; SPAN];
                for (r, x) in points.iter_mut().enumerate() {
                    *x = lanes(m, ((SPAN * r + s) * k_count + k) * stride + first);
                }
                *combined = output_combinations(points);
            }
            for a in 0..TILE {
                let y = TILE * i + a;
                if y >= oh {
                    break;
                }
                // Tile l's outputs are the line's values TILE·l … TILE·l + 3.
                let mut line_values = [0.0f32; TILE * LANES];
                for (b, values) in output_combinations(column(&half, a)).iter().enumerate() {
                    for (l, value) in values.iter().enumerate() {
                        line_values[TILE * l + b] = *value;
                    }
                }
                let line = &mut plane[y * ow..][..ow];
                let reach = (ow - TILE * j).min(TILE * LANES);
                line[TILE * j..TILE * j + reach].write_copy_of_slice(&line_values[..reach]);
            }
        }
    }
}

/// Places `row` at offset `shift` of a zero line of `line.len()` values, stored by phase: the positions
/// `≡ 0 (mod 4)` first, then those `≡ 1`, `≡ 2` and `≡ 3`, each phase `line.len() / 4` long, so that a
/// block of tiles reads each of its columns as consecutive values. `ordered` is scratch space.
#[inline(always)]
fn deinterleave(row: &[f32], shift: usize, line: &mut [f32], ordered: &mut Vec<f32>) {
    const { assert!(TILE == 4) };
    ordered.resize(line.len(), 0.0);
    let (before, rest) = ordered.split_at_mut(shift);
    let (values, after) = rest.split_at_mut(row.len());
    before.fill(0.0);
    values.copy_from_slice(row);
    after.fill(0.0);
    let phase_len = line.len() / TILE;
    let (p0, rest) = line.split_at_mut(phase_len);
    let (p1, rest) = rest.split_at_mut(phase_len);
    let (p2, p3) = rest.split_at_mut(phase_len);
    // LANES positions of each phase at a time, from fixed-size arrays (shuffles in vector registers).
    let whole = phase_len / LANES * LANES;
    for i in (0..whole).step_by(LANES) {
        let block: &[f32; TILE * LANES] = ordered[TILE * i..][..TILE * LANES]
            .try_into()
            .expect("a block");
        let phase = |at: usize| -> [f32; LANES] { std::array::from_fn(|l| block[TILE * l + at]) };
        p0[i..i + LANES].copy_from_slice(&phase(0));
        p1[i..i + LANES].copy_from_slice(&phase(1));
        p2[i..i + LANES].copy_from_slice(&phase(2));
        p3[i..i + LANES].copy_from_slice(&phase(3));
    }
    for i in whole..phase_len {
        (p0[i], p1[i], p2[i], p3[i]) = (
            ordered[TILE * i],
            ordered[TILE * i + 1],
            ordered[TILE * i + 2],
            ordered[TILE * i + 3],
        );
    }
}

/// `G g Gᵀ` of every `(out, in)` kernel of `weight` (`out × in × 3 × 3`), as 36 `out × in` matrices.
pub(super) fn transform_kernel(weight: &[f32]) -> Vec<f32> {
    super::transform_kernels(weight, |g, r| {
        // Row r of G g (G of each of the kernel's columns), then G of that row.
        let row = std::array::from_fn(|c| kernel_combinations([g[c], g[3 + c], g[6 + c]])[r]);
        kernel_combinations(row)
    })
}
