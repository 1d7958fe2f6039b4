//! Operations that move or add whole tensors, split over the cores: concatenation, copies (of strided
//! views, and of shared buffers about to be written in place) and the sum of two tensors of one shape
//! (how burn accumulates a gradient that several layers send back to one tensor, as DenseNet's
//! concatenated features do). flex runs them on the calling thread, where the other core waits.

use super::{by_planes, owned, tensor, values};
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{DType, Shape, TensorMetadata};
use rayon::prelude::*;

/// Values below which one thread does the work: splitting costs more than it saves.
const PARALLEL_VALUES: usize = 1 << 15;

/// Values per task of an element-wise sum.
const CHUNK: usize = 1 << 14;

/// `tensors` joined along `dim`: one task per index of the axes before `dim` (each image of a batch
/// joined along channels), copying each input's block in turn.
pub fn cat(tensors: Vec<FlexTensor>, dim: usize) -> FlexTensor {
    let Some(first) = tensors.first() else {
        return Flex::float_cat(tensors, dim);
    };
    let shape = first.shape();
    let rank = shape.num_dims();
    let compatible = |t: &FlexTensor| {
        let s = t.shape();
        t.dtype() == DType::F32
            && s.num_dims() == rank
            && (0..rank).all(|d| d == dim || s[d] == shape[d])
    };
    let total: usize = tensors.iter().map(|t| t.shape().num_elements()).sum();
    if dim >= rank || total < PARALLEL_VALUES || !tensors.iter().all(compatible) {
        return Flex::float_cat(tensors, dim);
    }
    let outer: usize = (0..dim).map(|d| shape[d]).product();
    let inner: usize = (dim + 1..rank).map(|d| shape[d]).product();
    let parts: Vec<_> = tensors
        .iter()
        .map(|t| {
            let block = t.shape()[dim] * inner;
            (values(t).expect("an f32 tensor"), block)
        })
        .collect();
    let row: usize = parts.iter().map(|(_, block)| block).sum();
    let joined = by_planes(outer, row, |i, dst| {
        let mut at = 0;
        for (src, block) in &parts {
            dst[at..at + block].write_copy_of_slice(&src[i * block..][..*block]);
            at += block;
        }
        at
    });
    let mut dims = shape.to_vec();
    dims[dim] = row / inner.max(1);
    tensor(joined, Shape::from(dims))
}

/// Blocks of a strided view shorter than this are copied on one thread: a task per block would cost
/// more than the block, and the list of their starts more memory than the values.
const PARALLEL_BLOCK: usize = 256;

/// The values of a strided f32 view in row-major order, one contiguous block of `block` values from each
/// of `starts` in turn; the blocks split over the cores where they are long and many.
pub fn strided_values(
    storage: &[f32],
    starts: impl ExactSizeIterator<Item = usize>,
    block: usize,
) -> Vec<f32> {
    let count = starts.len();
    if count < 2 || block < PARALLEL_BLOCK || count * block < PARALLEL_VALUES {
        let mut out = Vec::with_capacity(count * block);
        for start in starts {
            out.extend_from_slice(&storage[start..start + block]);
        }
        return out;
    }
    let starts: Vec<usize> = starts.collect();
    by_planes(count, block, |i, dst| {
        dst.write_copy_of_slice(&storage[starts[i]..starts[i] + block]);
        block
    })
}

/// A copy of `values`, split over the cores where there are many.
pub fn copied(values: &[f32]) -> Vec<f32> {
    if values.len() < PARALLEL_VALUES {
        return values.to_vec();
    }
    let mut out = Vec::with_capacity(values.len());
    out.spare_capacity_mut()[..values.len()]
        .par_chunks_mut(CHUNK)
        .zip(values.par_chunks(CHUNK))
        .for_each(|(dst, src)| {
            dst.write_copy_of_slice(src);
        });
    // SAFETY: the chunks above wrote all `values.len()` values.
    unsafe { out.set_len(values.len()) };
    out
}

/// `lhs + rhs`; in place in `lhs` and in parallel where both are f32 tensors of one shape with many
/// values.
pub fn add(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
    let n = lhs.shape().num_elements();
    if n < PARALLEL_VALUES
        || lhs.dtype() != DType::F32
        || rhs.dtype() != DType::F32
        || lhs.shape() != rhs.shape()
    {
        return Flex::float_add(lhs, rhs);
    }
    let rv = values(&rhs).expect("an f32 tensor");
    let mut sum = owned(lhs);
    sum.storage_mut::<f32>()[..n]
        .par_chunks_mut(CHUNK)
        .zip(rv.par_chunks(CHUNK))
        .for_each(|(s, r)| s.iter_mut().zip(r).for_each(|(s, r)| *s += r));
    sum
}
