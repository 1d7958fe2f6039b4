//! A bounds-checked front to the `gemm` crate's matrix product.

use gemm::Parallelism;
use std::mem::MaybeUninit;

/// A strided view of a row-major buffer as a `rows × cols` matrix.
#[derive(Clone, Copy)]
pub struct View {
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl View {
    /// A dense row-major matrix.
    pub fn dense(rows: usize, cols: usize) -> Self {
        View {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// `rows × cols` of a row-major buffer whose rows start every `row_stride` values.
    pub fn strided(rows: usize, cols: usize, row_stride: usize) -> Self {
        View {
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The same buffer read as the transposed matrix.
    pub fn t(self) -> Self {
        View {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Where element `(row, col)` lies in the buffer.
    pub fn at(&self, row: usize, col: usize) -> usize {
        row * self.row_stride + col * self.col_stride
    }

    /// A weight gradient's `out × inner` matrix, summed from products over output positions
    /// (`grad · inputᵀ`), as the products should write it: transposed where `out < inner`. The gemm crate
    /// repacks the operand whose rows are the destination's contiguous axis; this way that is the output
    /// gradient's smaller matrix and the input's larger one is read as it lies.
    pub fn weight_gradient(out: usize, inner: usize) -> Self {
        if out < inner {
            View::dense(inner, out).t()
        } else {
            View::dense(out, inner)
        }
    }

    /// Whether every element lies inside a buffer of `len` values.
    fn fits(&self, len: usize) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < len
    }
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`; on `threads` threads (1: the caller's).
pub fn matmul(
    (dst, dst_view): (&mut [f32], View),
    accumulate: bool,
    lhs: (&[f32], View),
    rhs: (&[f32], View),
    threads: usize,
) {
    // SAFETY: `f32` and `MaybeUninit<f32>` share their layout, every value of `dst` is initialised, and
    // `product` writes only initialised values, so `dst` stays a valid `[f32]`.
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    product((dst, dst_view), accumulate, lhs, rhs, threads);
}

/// `dst = lhs · rhs` into values that need not be initialised: the product writes every element of
/// `dst_view` and reads none.
pub fn matmul_into(
    dst: (&mut [MaybeUninit<f32>], View),
    lhs: (&[f32], View),
    rhs: (&[f32], View),
    threads: usize,
) {
    product(dst, false, lhs, rhs, threads);
}

/// [`matmul`], reading `dst` only where `accumulate`.
fn product(
    (dst, dst_view): (&mut [MaybeUninit<f32>], View),
    accumulate: bool,
    (lhs, lhs_view): (&[f32], View),
    (rhs, rhs_view): (&[f32], View),
    threads: usize,
) {
    assert!(
        dst_view.rows == lhs_view.rows
            && dst_view.cols == rhs_view.cols
            && lhs_view.cols == rhs_view.rows,
        "matrix shapes do not chain"
    );
    assert!(
        dst_view.fits(dst.len()) && lhs_view.fits(lhs.len()) && rhs_view.fits(rhs.len()),
        "matrix view outside its buffer"
    );
    if dst_view.rows == 0 || dst_view.cols == 0 {
        return;
    }
    if lhs_view.cols == 0 {
        if !accumulate {
            for r in 0..dst_view.rows {
                for c in 0..dst_view.cols {
                    dst[dst_view.at(r, c)].write(0.0);
                }
            }
        }
        return;
    }
    let parallelism = if threads > 1 {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    };
    // SAFETY: the shapes chain and every view lies inside its buffer (both asserted above); `dst` is a
    // unique borrow, so it overlaps neither operand. Without `accumulate` the gemm crate reads nothing
    // of `dst` (its `read_dst`), so `dst` may be uninitialised there.
    unsafe {
        gemm::gemm(
            dst_view.rows,
            dst_view.cols,
            lhs_view.cols,
            dst.as_mut_ptr().cast::<f32>(),
            dst_view.col_stride as isize,
            dst_view.row_stride as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_view.col_stride as isize,
            lhs_view.row_stride as isize,
            rhs.as_ptr(),
            rhs_view.col_stride as isize,
            rhs_view.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}
