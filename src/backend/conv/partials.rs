//! The weight gradient's partial sums: how many parts a batch is split into, the parts computed (one per
//! task, or one after another on all threads), and their sum, added in a fixed order by the pass that lays
//! the gradient out, so that it does not depend on the thread count.

use crate::backend::gemm::{View, matmul, matmul_into};
use rayon::prelude::*;
use std::ops::Range;

/// Partial sums of the weight gradient: at most this many, a number fixed by the convolution's sizes
/// whatever the thread count, so the sum is the same on every machine.
const WEIGHT_GRAD_PARTS: usize = 8;

/// Bytes of partial weight gradients held at once.
const PARTIAL_BYTES: usize = 32 << 20;

/// Columns (output positions or tiles over a part's images) below which a part is too thin a product: a
/// deep layer of 7×7 positions in parts of one image multiplies through an inner dimension of 49.
const PART_COLUMNS: usize = 1024;

/// Parts of the weight gradient of `len` values over `columns` columns in all: as many as keep
/// [`PART_COLUMNS`] columns each, but at least two (so that both cores unfold and transform, as in
/// [`super::Geometry::group`]), at most [`WEIGHT_GRAD_PARTS`], and no more than fit in [`PARTIAL_BYTES`].
pub(super) fn weight_grad_parts(len: usize, columns: usize) -> usize {
    (columns / PART_COLUMNS)
        .clamp(2, WEIGHT_GRAD_PARTS)
        .min(PARTIAL_BYTES / (4 * len.max(1)))
        .max(1)
}

/// `partial(images, threads)` over `parts` consecutive ranges of the batch's images, each a vector of
/// `len` values, to be summed value by value by [`Partials`]. With fewer parts than threads the parts run
/// one after another, each on all threads; otherwise one per task.
pub(super) fn partials(
    batch: usize,
    parts: usize,
    len: usize,
    partial: impl Fn(Range<usize>, usize) -> Vec<f32> + Sync,
) -> Partials {
    let threads = rayon::current_num_threads().max(1);
    let parts = parts.clamp(1, batch.max(1));
    let per_part = batch.div_ceil(parts);
    let images = |part: usize| part * per_part..((part + 1) * per_part).min(batch);
    let partials: Vec<Vec<f32>> = if parts < threads {
        (0..parts)
            .map(|part| partial(images(part), threads))
            .collect()
    } else {
        (0..parts)
            .into_par_iter()
            .map(|part| partial(images(part), 1))
            .collect()
    };
    debug_assert!(partials.iter().all(|p| p.len() == len));
    let mut partials = partials.into_iter();
    Partials {
        first: partials.next().unwrap_or_else(|| vec![0.0; len]),
        rest: partials.collect(),
    }
}

/// Partial sums of a weight gradient, added where they are read, in a fixed order (the first part's
/// value, then the next's), so that the sum does not depend on the thread count; added by the pass that
/// lays the gradient out, on all cores, instead of a serial sum before it.
pub(super) struct Partials {
    first: Vec<f32>,
    rest: Vec<Vec<f32>>,
}

impl Partials {
    /// The sum of the partials' values at `at`.
    #[inline(always)]
    pub(super) fn sum(&self, at: usize) -> f32 {
        self.rest
            .iter()
            .fold(self.first[at], |sum, part| sum + part[at])
    }

    /// The sum of the `rows × cols` matrices laid out in `layout`, as a dense row-major matrix: added
    /// into the first partial where that is dense already, gathered from the transposed layout otherwise
    /// (the two that [`View::weight_gradient`] gives).
    pub(super) fn into_dense(self, layout: View) -> Vec<f32> {
        let (rows, cols) = (layout.rows, layout.cols);
        if layout.col_stride == 1 && layout.row_stride == cols {
            return self.added_in_place();
        }
        assert!(
            layout.row_stride == 1 && layout.col_stride == rows,
            "a weight gradient lies dense or transposed"
        );
        self.transposed(rows, cols)
    }

    /// The partials' sum, added into the first one.
    fn added_in_place(self) -> Vec<f32> {
        let Partials { mut first, rest } = self;
        const BLOCK: usize = 1 << 14;
        first
            .par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, block)| {
                for part in &rest {
                    let values = &part[b * BLOCK..][..block.len()];
                    block.iter_mut().zip(values).for_each(|(d, v)| *d += v);
                }
            });
        first
    }

    /// The partials' sum as a dense `rows × cols` matrix, from partials that hold it transposed (dense
    /// `cols × rows`): in square tiles, each summed line by line from contiguous reads, then written out
    /// transposed; bands of rows on all cores.
    fn transposed(&self, rows: usize, cols: usize) -> Vec<f32> {
        const TILE: usize = 16;
        let len = rows * cols;
        let mut dense = Vec::with_capacity(len);
        if cols > 0 {
            dense.spare_capacity_mut()[..len]
                .par_chunks_mut(TILE * cols)
                .enumerate()
                .for_each(|(band, dst)| {
                    let (first_row, band_rows) = (band * TILE, dst.len() / cols);
                    // tile[c][r]: column `c0 + c`, row `first_row + r` of the sum.
                    let mut tile = [[0f32; TILE]; TILE];
                    for c0 in (0..cols).step_by(TILE) {
                        let width = TILE.min(cols - c0);
                        for (c, line) in tile[..width].iter_mut().enumerate() {
                            let at = (c0 + c) * rows + first_row;
                            let line = &mut line[..band_rows];
                            line.copy_from_slice(&self.first[at..at + band_rows]);
                            for part in &self.rest {
                                let values = &part[at..at + band_rows];
                                line.iter_mut().zip(values).for_each(|(d, v)| *d += v);
                            }
                        }
                        for (r, out) in dst.chunks_exact_mut(cols).enumerate() {
                            for (c, v) in out[c0..c0 + width].iter_mut().enumerate() {
                                v.write(tile[c][r]);
                            }
                        }
                    }
                });
        }
        // SAFETY: the bands above wrote every one of the `len` values.
        unsafe { dense.set_len(len) };
        dense
    }
}

/// A buffer of `len` values that matrix products sum into, round after round: in the first round each
/// product writes its block whole into fresh memory (as [`matmul_into`], with no pass of zeros first), and
/// the rounds after add to it.
pub(super) struct ProductSum {
    values: Vec<f32>,
    len: usize,
}

impl ProductSum {
    pub(super) fn new(len: usize) -> Self {
        ProductSum {
            values: Vec::with_capacity(len),
            len,
        }
    }

    /// The block at `at`, laid out as `layout`: `lhs · rhs` in the first round, `+= lhs · rhs` after.
    pub(super) fn add(
        &mut self,
        at: usize,
        layout: View,
        lhs: (&[f32], View),
        rhs: (&[f32], View),
        threads: usize,
    ) {
        if self.values.len() == self.len {
            matmul((&mut self.values[at..], layout), true, lhs, rhs, threads);
        } else {
            let fresh = &mut self.values.spare_capacity_mut()[at..self.len];
            matmul_into((fresh, layout), lhs, rhs, threads);
        }
    }

    /// Ends a round.
    ///
    /// # Safety
    /// The products of the first round wrote every one of the `len` values.
    pub(super) unsafe fn end_round(&mut self) {
        // SAFETY: as the caller promises.
        unsafe { self.values.set_len(self.len) };
    }

    /// The sum: zeros where no round ran (a part of the batch without images).
    pub(super) fn into_values(mut self) -> Vec<f32> {
        if self.values.len() < self.len {
            self.values.resize(self.len, 0.0);
        }
        self.values
    }
}
