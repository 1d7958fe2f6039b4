//! Trait impls that hand every operation of [`Cpu`] to flex, except the ones `super` implements itself.

use super::{Cpu, conv, copy, pool};
use burn::backend::Flex;
use burn::tensor::backend::ExecutionError;
use burn::tensor::ops::*;
use burn::tensor::quantization::{QuantScheme, QuantizationParametersPrimitive};
use burn::tensor::{BoolDType, FloatDType, IntDType};
use burn::tensor::{
    Distribution, IndexingUpdateOp, Scalar, Shape, Slice, TensorData, TensorPrimitive,
};
use std::ops::Range;

/// `fn name(args) -> type;` becomes a method calling flex's method of the same name and arguments;
/// `=> primitive` converts flex's returned [`TensorPrimitive`] into this backend's.
macro_rules! delegate {
    ($trait:ident $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $(=> $wrap:ident)?;)*) => {
        $(fn $name($($arg: $ty),*) -> $ret {
            delegate!(@call $($wrap)? <Flex as $trait<Flex>>::$name($($arg),*))
        })*
    };
    (@call $wrap:ident $call:expr) => { $wrap($call) };
    (@call $call:expr) => { $call };
}

impl FloatTensorOps<Cpu> for Cpu {
    delegate! { FloatTensorOps
    fn float_from_data(data: TensorData, device: &Device<Cpu>) -> FloatTensor<Cpu>;
    fn float_random(shape: Shape, distribution: Distribution, device: &Device<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn float_zeros(shape: Shape, device: &Device<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn float_ones(shape: Shape, device: &Device<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn float_full(shape: Shape, fill_value: Scalar, device: &Device<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn float_into_data(tensor: FloatTensor<Cpu>) -> impl Future<Output = Result<TensorData, ExecutionError>> + Send;
    fn float_device(tensor: &FloatTensor<Cpu>) -> Device<Cpu>;
    fn float_to_device(tensor: FloatTensor<Cpu>, device: &Device<Cpu>) -> FloatTensor<Cpu>;
    fn float_into_int(tensor: FloatTensor<Cpu>, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn float_empty(shape: Shape, device: &Device<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn float_repeat_dim(tensor: FloatTensor<Cpu>, dim: usize, times: usize) -> FloatTensor<Cpu>;
    fn float_add_scalar(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_clamp_min(tensor: FloatTensor<Cpu>, min: Scalar) -> FloatTensor<Cpu>;
    fn float_clamp_max(tensor: FloatTensor<Cpu>, max: Scalar) -> FloatTensor<Cpu>;
    fn float_clamp(tensor: FloatTensor<Cpu>, min: Scalar, max: Scalar) -> FloatTensor<Cpu>;
    fn float_sub(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_sub_scalar(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_mul(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_mul_scalar(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_div(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_div_scalar(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_remainder(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_remainder_scalar(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_matmul(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_cross(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_neg(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_recip(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_transpose(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_swap_dims(tensor: FloatTensor<Cpu>, dim1: usize, dim2: usize) -> FloatTensor<Cpu>;
    fn float_permute(tensor: FloatTensor<Cpu>, axes: &[usize]) -> FloatTensor<Cpu>;
    fn float_flip(tensor: FloatTensor<Cpu>, axes: &[usize]) -> FloatTensor<Cpu>;
    fn float_reshape(tensor: FloatTensor<Cpu>, shape: Shape) -> FloatTensor<Cpu>;
    fn float_gather(dim: usize, tensor: FloatTensor<Cpu>, indices: IntTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_scatter_add(dim: usize, tensor: FloatTensor<Cpu>, indices: IntTensor<Cpu>, value: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_scatter_nd(_data: FloatTensor<Cpu>, _indices: IntTensor<Cpu>, _values: FloatTensor<Cpu>, _reduction: IndexingUpdateOp) -> FloatTensor<Cpu>;
    fn float_gather_nd(_data: FloatTensor<Cpu>, _indices: IntTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_select(tensor: FloatTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_select_add(tensor: FloatTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>, value: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_slice_assign(tensor: FloatTensor<Cpu>, slices: &[Slice], value: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_mask_where(tensor: FloatTensor<Cpu>, mask: BoolTensor<Cpu>, value: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_mask_fill(tensor: FloatTensor<Cpu>, mask: BoolTensor<Cpu>, value: Scalar) -> FloatTensor<Cpu>;
    fn float_equal(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_not_equal(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_equal_elem(lhs: FloatTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_not_equal_elem(lhs: FloatTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_greater(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_greater_elem(lhs: FloatTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_greater_equal(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_greater_equal_elem(lhs: FloatTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_lower(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_lower_elem(lhs: FloatTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_lower_equal(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_lower_equal_elem(lhs: FloatTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_detach(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_set_require_grad(tensor: FloatTensor<Cpu>, _require_grad: bool) -> FloatTensor<Cpu>;
    fn float_is_require_grad(_tensor: &FloatTensor<Cpu>) -> bool;
    fn float_sum(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_sum_dim(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_prod(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_prod_dim(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_mean(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_mean_dim(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_cumsum(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_cumprod(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_cummin(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_cummax(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_cast(tensor: FloatTensor<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn float_exp(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_log(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_log1p(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_powf(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_powi(lhs: FloatTensor<Cpu>, rhs: IntTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_powi_scalar(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_powi_scalar_impl(lhs: FloatTensor<Cpu>, rhs: Scalar) -> FloatTensor<Cpu>;
    fn float_powf_scalar(tensor: FloatTensor<Cpu>, value: Scalar) -> FloatTensor<Cpu>;
    fn float_powf_scalar_impl(tensor: FloatTensor<Cpu>, value: Scalar) -> FloatTensor<Cpu>;
    fn float_sqrt(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_abs(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_cos(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_sin(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_tan(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_cosh(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_sinh(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_tanh(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_acos(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_acosh(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_asin(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_asinh(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_atan(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_atanh(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_atan2(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_round(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_floor(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_ceil(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_trunc(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_erf(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_argmax(tensor: FloatTensor<Cpu>, dim: usize, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn float_argtopk(tensor: FloatTensor<Cpu>, dim: usize, k: usize, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn float_topk(tensor: FloatTensor<Cpu>, dim: usize, k: usize) -> FloatTensor<Cpu>;
    fn float_argmin(tensor: FloatTensor<Cpu>, dim: usize, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn float_max(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_max_dim(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_max_dim_with_indices(tensor: FloatTensor<Cpu>, dim: usize, indices_dtype: IntDType) -> (FloatTensor<Cpu>, IntTensor<Cpu>);
    fn float_min(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_min_dim(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_min_dim_with_indices(tensor: FloatTensor<Cpu>, dim: usize, indices_dtype: IntDType) -> (FloatTensor<Cpu>, IntTensor<Cpu>);
    fn float_max_abs(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_max_abs_dim(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn float_any(tensor: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_any_dim(tensor: FloatTensor<Cpu>, dim: usize, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_all(tensor: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_all_dim(tensor: FloatTensor<Cpu>, dim: usize, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_sign(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn float_expand(tensor: FloatTensor<Cpu>, shape: Shape) -> FloatTensor<Cpu>;
    fn float_sort(tensor: FloatTensor<Cpu>, dim: usize, descending: bool) -> FloatTensor<Cpu>;
    fn float_sort_with_indices(tensor: FloatTensor<Cpu>, dim: usize, descending: bool, indices_dtype: IntDType) -> (FloatTensor<Cpu>, IntTensor<Cpu>);
    fn float_argsort(tensor: FloatTensor<Cpu>, dim: usize, descending: bool, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn float_grid_sample_2d(tensor: FloatTensor<Cpu>, grid: FloatTensor<Cpu>, options: GridSampleOptions) -> FloatTensor<Cpu>;
    fn float_unfold(tensor: FloatTensor<Cpu>, dim: usize, size: usize, step: usize) -> FloatTensor<Cpu>;
    fn float_is_nan(tensor: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn float_is_inf(tensor: FloatTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    }

    fn float_add(lhs: FloatTensor<Cpu>, rhs: FloatTensor<Cpu>) -> FloatTensor<Cpu> {
        copy::add(lhs, rhs)
    }

    fn float_cat(tensors: Vec<FloatTensor<Cpu>>, dim: usize) -> FloatTensor<Cpu> {
        copy::cat(tensors, dim)
    }

    /// A slice that is not one contiguous run (a channel range of an NCHW map, as the backward step of a
    /// concatenation takes) is copied out block by block: flex would keep a strided view, which every
    /// later operation reads element by element.
    fn float_slice(tensor: FloatTensor<Cpu>, slices: &[Slice]) -> FloatTensor<Cpu> {
        super::compact(Flex::float_slice(tensor, slices))
    }
}

impl IntTensorOps<Cpu> for Cpu {
    delegate! { IntTensorOps
    fn int_empty(shape: Shape, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_into_data(tensor: IntTensor<Cpu>) -> impl Future<Output = Result<TensorData, ExecutionError>> + Send;
    fn int_from_data(data: TensorData, device: &Device<Cpu>) -> IntTensor<Cpu>;
    fn int_device(tensor: &IntTensor<Cpu>) -> Device<Cpu>;
    fn int_to_device(tensor: IntTensor<Cpu>, device: &Device<Cpu>) -> IntTensor<Cpu>;
    fn int_reshape(tensor: IntTensor<Cpu>, shape: Shape) -> IntTensor<Cpu>;
    fn int_slice(tensor: IntTensor<Cpu>, slices: &[Slice]) -> IntTensor<Cpu>;
    fn int_slice_assign(tensor: IntTensor<Cpu>, slices: &[Slice], value: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_into_float(tensor: IntTensor<Cpu>, out_dtype: FloatDType) -> FloatTensor<Cpu>;
    fn int_mask_where(tensor: IntTensor<Cpu>, mask: BoolTensor<Cpu>, value: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_mask_fill(tensor: IntTensor<Cpu>, mask: BoolTensor<Cpu>, value: Scalar) -> IntTensor<Cpu>;
    fn int_gather(dim: usize, tensor: IntTensor<Cpu>, indices: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_scatter_add(dim: usize, tensor: IntTensor<Cpu>, indices: IntTensor<Cpu>, value: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_scatter_nd(_data: IntTensor<Cpu>, _indices: IntTensor<Cpu>, _values: IntTensor<Cpu>, _reduction: IndexingUpdateOp) -> IntTensor<Cpu>;
    fn int_gather_nd(_data: IntTensor<Cpu>, _indices: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_select(tensor: IntTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_select_add(tensor: IntTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>, value: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_repeat_dim(tensor: IntTensor<Cpu>, dim: usize, times: usize) -> IntTensor<Cpu>;
    fn int_cat(tensors: Vec<IntTensor<Cpu>>, dim: usize) -> IntTensor<Cpu>;
    fn int_equal(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_not_equal(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_equal_elem(lhs: IntTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_not_equal_elem(lhs: IntTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_greater(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_greater_elem(lhs: IntTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_greater_equal(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_greater_equal_elem(lhs: IntTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_lower(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_lower_elem(lhs: IntTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_lower_equal(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_lower_equal_elem(lhs: IntTensor<Cpu>, rhs: Scalar, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_add(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_add_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_powi(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_powi_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_powi_scalar_impl(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_clamp_min(tensor: IntTensor<Cpu>, min: Scalar) -> IntTensor<Cpu>;
    fn int_clamp_max(tensor: IntTensor<Cpu>, max: Scalar) -> IntTensor<Cpu>;
    fn int_clamp(tensor: IntTensor<Cpu>, min: Scalar, max: Scalar) -> IntTensor<Cpu>;
    fn int_sub(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_sub_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_mul(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_mul_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_div(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_div_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_remainder(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_remainder_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_matmul(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_neg(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_zeros(shape: Shape, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_ones(shape: Shape, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_full(shape: Shape, fill_value: Scalar, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_sum(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_sum_dim(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_prod(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_prod_dim(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_mean(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_mean_dim(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_cumsum(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_cumprod(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_cummin(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_cummax(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_argmax(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_argtopk(tensor: IntTensor<Cpu>, dim: usize, k: usize) -> IntTensor<Cpu>;
    fn int_topk(tensor: IntTensor<Cpu>, dim: usize, k: usize) -> IntTensor<Cpu>;
    fn int_argmin(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_max(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_max_dim(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_max_dim_with_indices(tensor: IntTensor<Cpu>, dim: usize) -> (IntTensor<Cpu>, IntTensor<Cpu>);
    fn int_max_abs(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_max_abs_dim(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_min(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_min_dim(tensor: IntTensor<Cpu>, dim: usize) -> IntTensor<Cpu>;
    fn int_min_dim_with_indices(tensor: IntTensor<Cpu>, dim: usize) -> (IntTensor<Cpu>, IntTensor<Cpu>);
    fn int_abs(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_transpose(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_swap_dims(tensor: IntTensor<Cpu>, dim1: usize, dim2: usize) -> IntTensor<Cpu>;
    fn int_permute(tensor: IntTensor<Cpu>, axes: &[usize]) -> IntTensor<Cpu>;
    fn int_flip(tensor: IntTensor<Cpu>, axes: &[usize]) -> IntTensor<Cpu>;
    fn int_random(shape: Shape, distribution: Distribution, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_arange_step(range: Range<i64>, step: usize, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_arange(range: Range<i64>, device: &Device<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_any(tensor: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_any_dim(tensor: IntTensor<Cpu>, dim: usize, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_all(tensor: IntTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_all_dim(tensor: IntTensor<Cpu>, dim: usize, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn int_sign(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn int_expand(tensor: IntTensor<Cpu>, shape: Shape) -> IntTensor<Cpu>;
    fn int_sort(tensor: IntTensor<Cpu>, dim: usize, descending: bool) -> IntTensor<Cpu>;
    fn int_sort_with_indices(tensor: IntTensor<Cpu>, dim: usize, descending: bool) -> (IntTensor<Cpu>, IntTensor<Cpu>);
    fn int_argsort(tensor: IntTensor<Cpu>, dim: usize, descending: bool) -> IntTensor<Cpu>;
    fn bitwise_and(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn bitwise_and_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn bitwise_or(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn bitwise_or_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn bitwise_xor(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn bitwise_xor_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn bitwise_not(tensor: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn bitwise_left_shift(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn bitwise_left_shift_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn bitwise_right_shift(lhs: IntTensor<Cpu>, rhs: IntTensor<Cpu>) -> IntTensor<Cpu>;
    fn bitwise_right_shift_scalar(lhs: IntTensor<Cpu>, rhs: Scalar) -> IntTensor<Cpu>;
    fn int_cast(tensor: IntTensor<Cpu>, dtype: IntDType) -> IntTensor<Cpu>;
    fn int_unfold(tensor: IntTensor<Cpu>, dim: usize, size: usize, step: usize) -> IntTensor<Cpu>;
    }
}

impl BoolTensorOps<Cpu> for Cpu {
    delegate! { BoolTensorOps
    fn bool_empty(shape: Shape, device: &Device<Cpu>, dtype: BoolDType) -> BoolTensor<Cpu>;
    fn bool_zeros(shape: Shape, device: &Device<Cpu>, dtype: BoolDType) -> BoolTensor<Cpu>;
    fn bool_ones(shape: Shape, device: &Device<Cpu>, dtype: BoolDType) -> BoolTensor<Cpu>;
    fn bool_into_data(tensor: BoolTensor<Cpu>) -> impl Future<Output = Result<TensorData, ExecutionError>> + Send;
    fn bool_from_data(data: TensorData, device: &Device<Cpu>) -> BoolTensor<Cpu>;
    fn bool_into_int(tensor: BoolTensor<Cpu>, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn bool_into_float(tensor: BoolTensor<Cpu>, out_dtype: FloatDType) -> FloatTensor<Cpu>;
    fn bool_device(tensor: &BoolTensor<Cpu>) -> Device<Cpu>;
    fn bool_to_device(tensor: BoolTensor<Cpu>, device: &Device<Cpu>) -> BoolTensor<Cpu>;
    fn bool_reshape(tensor: BoolTensor<Cpu>, shape: Shape) -> BoolTensor<Cpu>;
    fn bool_slice(tensor: BoolTensor<Cpu>, slices: &[Slice]) -> BoolTensor<Cpu>;
    fn bool_slice_assign(tensor: BoolTensor<Cpu>, slices: &[Slice], value: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_mask_where(tensor: BoolTensor<Cpu>, mask: BoolTensor<Cpu>, value: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_mask_fill(tensor: BoolTensor<Cpu>, mask: BoolTensor<Cpu>, value: Scalar) -> BoolTensor<Cpu>;
    fn bool_gather(dim: usize, tensor: BoolTensor<Cpu>, indices: IntTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_scatter_or(dim: usize, tensor: BoolTensor<Cpu>, indices: IntTensor<Cpu>, value: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_select(tensor: BoolTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_select_or(tensor: BoolTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>, value: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_repeat_dim(tensor: BoolTensor<Cpu>, dim: usize, times: usize) -> BoolTensor<Cpu>;
    fn bool_cat(tensors: Vec<BoolTensor<Cpu>>, dim: usize) -> BoolTensor<Cpu>;
    fn bool_equal(lhs: BoolTensor<Cpu>, rhs: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_not_equal(lhs: BoolTensor<Cpu>, rhs: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_equal_elem(lhs: BoolTensor<Cpu>, rhs: Scalar) -> BoolTensor<Cpu>;
    fn bool_not_equal_elem(lhs: BoolTensor<Cpu>, rhs: Scalar) -> BoolTensor<Cpu>;
    fn bool_not(tensor: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_and(lhs: BoolTensor<Cpu>, rhs: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_or(lhs: BoolTensor<Cpu>, rhs: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_xor(lhs: BoolTensor<Cpu>, rhs: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_transpose(tensor: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_swap_dims(tensor: BoolTensor<Cpu>, dim1: usize, dim2: usize) -> BoolTensor<Cpu>;
    fn bool_permute(tensor: BoolTensor<Cpu>, axes: &[usize]) -> BoolTensor<Cpu>;
    fn bool_flip(tensor: BoolTensor<Cpu>, axes: &[usize]) -> BoolTensor<Cpu>;
    fn bool_any(tensor: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_any_dim(tensor: BoolTensor<Cpu>, dim: usize) -> BoolTensor<Cpu>;
    fn bool_all(tensor: BoolTensor<Cpu>) -> BoolTensor<Cpu>;
    fn bool_all_dim(tensor: BoolTensor<Cpu>, dim: usize) -> BoolTensor<Cpu>;
    fn bool_argwhere(tensor: BoolTensor<Cpu>, out_dtype: IntDType) -> impl Future<Output = IntTensor<Cpu>> + 'static + Send;
    fn bool_expand(tensor: BoolTensor<Cpu>, shape: Shape) -> BoolTensor<Cpu>;
    fn bool_unfold(tensor: BoolTensor<Cpu>, dim: usize, size: usize, step: usize) -> BoolTensor<Cpu>;
    }
}

impl ModuleOps<Cpu> for Cpu {
    delegate! { ModuleOps
    fn embedding(weights: FloatTensor<Cpu>, indices: IntTensor<Cpu>) -> FloatTensor<Cpu>;
    fn embedding_backward(weights: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, indices: IntTensor<Cpu>) -> FloatTensor<Cpu>;
    fn linear(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, bias: Option<FloatTensor<Cpu>>) -> FloatTensor<Cpu>;
    fn linear_x_backward(weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn linear_weight_backward(x: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn linear_bias_backward(output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn conv1d(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, bias: Option<FloatTensor<Cpu>>, options: ConvOptions<1>) -> FloatTensor<Cpu>;
    fn conv1d_x_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvOptions<1>) -> FloatTensor<Cpu>;
    fn conv1d_weight_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvOptions<1>) -> FloatTensor<Cpu>;
    fn conv1d_bias_backward(x: FloatTensor<Cpu>, bias: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn conv2d_bias_backward(x: FloatTensor<Cpu>, bias: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn deform_conv2d(x: FloatTensor<Cpu>, offset: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, mask: Option<FloatTensor<Cpu>>, bias: Option<FloatTensor<Cpu>>, options: DeformConvOptions<2>) -> FloatTensor<Cpu>;
    fn conv3d(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, bias: Option<FloatTensor<Cpu>>, options: ConvOptions<3>) -> FloatTensor<Cpu>;
    fn conv3d_x_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvOptions<3>) -> FloatTensor<Cpu>;
    fn conv3d_weight_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvOptions<3>) -> FloatTensor<Cpu>;
    fn conv3d_bias_backward(x: FloatTensor<Cpu>, bias: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn conv_transpose1d(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, bias: Option<FloatTensor<Cpu>>, options: ConvTransposeOptions<1>) -> FloatTensor<Cpu>;
    fn conv_transpose1d_x_backward(weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvTransposeOptions<1>) -> FloatTensor<Cpu>;
    fn conv_transpose1d_weight_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvTransposeOptions<1>) -> FloatTensor<Cpu>;
    fn conv_transpose1d_bias_backward(x: FloatTensor<Cpu>, bias: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn conv_transpose2d(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, bias: Option<FloatTensor<Cpu>>, options: ConvTransposeOptions<2>) -> FloatTensor<Cpu>;
    fn conv_transpose2d_x_backward(weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvTransposeOptions<2>) -> FloatTensor<Cpu>;
    fn conv_transpose2d_weight_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvTransposeOptions<2>) -> FloatTensor<Cpu>;
    fn conv_transpose2d_bias_backward(x: FloatTensor<Cpu>, bias: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn conv_transpose3d(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, bias: Option<FloatTensor<Cpu>>, options: ConvTransposeOptions<3>) -> FloatTensor<Cpu>;
    fn conv_transpose3d_x_backward(weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvTransposeOptions<3>) -> FloatTensor<Cpu>;
    fn conv_transpose3d_weight_backward(x: FloatTensor<Cpu>, weight: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>, options: ConvTransposeOptions<3>) -> FloatTensor<Cpu>;
    fn conv_transpose3d_bias_backward(x: FloatTensor<Cpu>, bias: FloatTensor<Cpu>, output_grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn unfold4d(x: FloatTensor<Cpu>, kernel_size: [usize; 2], options: UnfoldOptions) -> FloatTensor<Cpu>;
    fn avg_pool1d(x: FloatTensor<Cpu>, kernel_size: usize, stride: usize, padding: usize, count_include_pad: bool, ceil_mode: bool) -> FloatTensor<Cpu>;
    fn avg_pool1d_backward(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>, kernel_size: usize, stride: usize, padding: usize, count_include_pad: bool, ceil_mode: bool) -> FloatTensor<Cpu>;
    fn adaptive_avg_pool2d(x: FloatTensor<Cpu>, output_size: [usize; 2]) -> FloatTensor<Cpu>;
    fn adaptive_avg_pool2d_backward(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn adaptive_avg_pool1d(x: FloatTensor<Cpu>, output_size: usize) -> FloatTensor<Cpu>;
    fn adaptive_avg_pool1d_backward(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn max_pool1d(x: FloatTensor<Cpu>, kernel_size: usize, stride: usize, padding: usize, dilation: usize, ceil_mode: bool) -> FloatTensor<Cpu>;
    fn interpolate(x: FloatTensor<Cpu>, output_size: [usize; 2], options: InterpolateOptions) -> FloatTensor<Cpu>;
    fn interpolate_backward(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>, output_size: [usize; 2], options: InterpolateOptions) -> FloatTensor<Cpu>;
    fn attention(query: FloatTensor<Cpu>, key: FloatTensor<Cpu>, value: FloatTensor<Cpu>, mask: Option<BoolTensor<Cpu>>, attn_bias: Option<FloatTensor<Cpu>>, options: AttentionModuleOptions) -> FloatTensor<Cpu>;
    fn layer_norm(tensor: FloatTensor<Cpu>, gamma: FloatTensor<Cpu>, beta: Option<FloatTensor<Cpu>>, epsilon: f64) -> FloatTensor<Cpu>;
    fn ctc_loss(log_probs: FloatTensor<Cpu>, targets: IntTensor<Cpu>, input_lengths: IntTensor<Cpu>, target_lengths: IntTensor<Cpu>, blank: usize) -> FloatTensor<Cpu>;
    fn has_ctc_loss_backward() -> bool;
    fn ctc_loss_backward(_log_probs: FloatTensor<Cpu>, _targets: IntTensor<Cpu>, _input_lengths: IntTensor<Cpu>, _target_lengths: IntTensor<Cpu>, _grad_loss: FloatTensor<Cpu>, _blank: usize) -> FloatTensor<Cpu>;
    fn rfft(signal: FloatTensor<Cpu>, dim: usize, n: Option<usize>) -> (FloatTensor<Cpu>, FloatTensor<Cpu>);
    fn irfft(spectrum_re: FloatTensor<Cpu>, spectrum_im: FloatTensor<Cpu>, dim: usize, n: Option<usize>) -> FloatTensor<Cpu>;
    }

    fn conv2d(
        x: FloatTensor<Cpu>,
        weight: FloatTensor<Cpu>,
        bias: Option<FloatTensor<Cpu>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Cpu> {
        conv::conv2d(x, weight, bias, options)
    }
    fn conv2d_x_backward(
        x: FloatTensor<Cpu>,
        weight: FloatTensor<Cpu>,
        output_grad: FloatTensor<Cpu>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Cpu> {
        conv::conv2d_x_backward(x, weight, output_grad, options)
    }
    fn conv2d_weight_backward(
        x: FloatTensor<Cpu>,
        weight: FloatTensor<Cpu>,
        output_grad: FloatTensor<Cpu>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Cpu> {
        conv::conv2d_weight_backward(x, weight, output_grad, options)
    }
    fn avg_pool2d(
        x: FloatTensor<Cpu>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        count_include_pad: bool,
        ceil_mode: bool,
    ) -> FloatTensor<Cpu> {
        let window = pool::Window::average(kernel_size, stride, padding, ceil_mode);
        pool::avg_pool2d(x, window, count_include_pad)
    }
    fn avg_pool2d_backward(
        x: FloatTensor<Cpu>,
        grad: FloatTensor<Cpu>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        count_include_pad: bool,
        ceil_mode: bool,
    ) -> FloatTensor<Cpu> {
        let window = pool::Window::average(kernel_size, stride, padding, ceil_mode);
        pool::avg_pool2d_backward(x, grad, window, count_include_pad)
    }
    fn max_pool2d(
        x: FloatTensor<Cpu>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> FloatTensor<Cpu> {
        pool::max_pool2d(
            x,
            pool::Window {
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
            },
        )
        .output
    }
    fn max_pool2d_with_indices(
        x: FloatTensor<Cpu>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> MaxPool2dWithIndices<Cpu> {
        pool::max_pool2d(
            x,
            pool::Window {
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
            },
        )
    }
    fn max_pool2d_with_indices_backward(
        x: FloatTensor<Cpu>,
        kernel_size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
        output_grad: FloatTensor<Cpu>,
        indices: IntTensor<Cpu>,
    ) -> MaxPool2dBackward<Cpu> {
        pool::max_pool2d_backward(
            x,
            pool::Window {
                kernel_size,
                stride,
                padding,
                dilation,
                ceil_mode,
            },
            output_grad,
            indices,
        )
    }
    fn deform_conv2d_backward(
        x: FloatTensor<Cpu>,
        offset: FloatTensor<Cpu>,
        weight: FloatTensor<Cpu>,
        mask: Option<FloatTensor<Cpu>>,
        bias: Option<FloatTensor<Cpu>>,
        output_grad: FloatTensor<Cpu>,
        options: DeformConvOptions<2>,
    ) -> DeformConv2dBackward<Cpu> {
        let g = Flex::deform_conv2d_backward(x, offset, weight, mask, bias, output_grad, options);
        DeformConv2dBackward::new(
            g.x_grad,
            g.offset_grad,
            g.weight_grad,
            g.mask_grad,
            g.bias_grad,
        )
    }
    fn max_pool1d_with_indices(
        x: FloatTensor<Cpu>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        ceil_mode: bool,
    ) -> MaxPool1dWithIndices<Cpu> {
        let p = Flex::max_pool1d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode);
        MaxPool1dWithIndices::new(p.output, p.indices)
    }
    fn max_pool1d_with_indices_backward(
        x: FloatTensor<Cpu>,
        kernel_size: usize,
        stride: usize,
        padding: usize,
        dilation: usize,
        ceil_mode: bool,
        output_grad: FloatTensor<Cpu>,
        indices: IntTensor<Cpu>,
    ) -> MaxPool1dBackward<Cpu> {
        let g = Flex::max_pool1d_with_indices_backward(
            x,
            kernel_size,
            stride,
            padding,
            dilation,
            ceil_mode,
            output_grad,
            indices,
        );
        MaxPool1dBackward::new(g.x_grad)
    }
}

impl ActivationOps<Cpu> for Cpu {
    delegate! { ActivationOps
    fn leaky_relu(tensor: FloatTensor<Cpu>, negative_slope: Scalar) -> FloatTensor<Cpu>;
    fn relu(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn relu_backward(output: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn gelu(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn prelu(tensor: FloatTensor<Cpu>, alpha: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn gelu_backward(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn sigmoid(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn sigmoid_backward(output: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn hard_sigmoid(tensor: FloatTensor<Cpu>, alpha: Scalar, beta: Scalar) -> FloatTensor<Cpu>;
    fn log_sigmoid(tensor: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    fn softmax(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn log_softmax(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn softmin(tensor: FloatTensor<Cpu>, dim: usize) -> FloatTensor<Cpu>;
    fn log_sigmoid_backward(x: FloatTensor<Cpu>, grad: FloatTensor<Cpu>) -> FloatTensor<Cpu>;
    }
}

impl QTensorOps<Cpu> for Cpu {
    delegate! { QTensorOps
    fn q_from_data(data: TensorData, device: &Device<Cpu>) -> QuantizedTensor<Cpu>;
    fn quantize_dynamic(tensor: FloatTensor<Cpu>, scheme: &QuantScheme) -> QuantizedTensor<Cpu>;
    fn dequantize(tensor: QuantizedTensor<Cpu>, dtype: FloatDType) -> FloatTensor<Cpu>;
    fn q_device(tensor: &QuantizedTensor<Cpu>) -> Device<Cpu>;
    fn q_to_device(tensor: QuantizedTensor<Cpu>, device: &Device<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_reshape(tensor: QuantizedTensor<Cpu>, shape: Shape) -> QuantizedTensor<Cpu>;
    fn q_into_data(tensor: QuantizedTensor<Cpu>) -> impl Future<Output = Result<TensorData, ExecutionError>> + Send;
    fn q_detach(tensor: QuantizedTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_set_require_grad(tensor: QuantizedTensor<Cpu>, _require_grad: bool) -> QuantizedTensor<Cpu>;
    fn q_is_require_grad(_tensor: &QuantizedTensor<Cpu>) -> bool;
    fn q_expand(tensor: QuantizedTensor<Cpu>, shape: Shape) -> QuantizedTensor<Cpu>;
    fn q_transpose(tensor: QuantizedTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_swap_dims(tensor: QuantizedTensor<Cpu>, dim1: usize, dim2: usize) -> QuantizedTensor<Cpu>;
    fn q_permute(tensor: QuantizedTensor<Cpu>, axes: &[usize]) -> QuantizedTensor<Cpu>;
    fn q_flip(tensor: QuantizedTensor<Cpu>, axes: &[usize]) -> QuantizedTensor<Cpu>;
    fn q_select(tensor: QuantizedTensor<Cpu>, dim: usize, indices: IntTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_slice(tensor: QuantizedTensor<Cpu>, slices: &[Slice]) -> QuantizedTensor<Cpu>;
    fn q_gather(dim: usize, tensor: QuantizedTensor<Cpu>, indices: IntTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_repeat_dim(tensor: QuantizedTensor<Cpu>, dim: usize, times: usize) -> QuantizedTensor<Cpu>;
    fn q_add(lhs: QuantizedTensor<Cpu>, rhs: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_add_scalar(lhs: QuantizedTensor<Cpu>, rhs: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_clamp_min(tensor: QuantizedTensor<Cpu>, min: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_clamp_max(tensor: QuantizedTensor<Cpu>, max: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_clamp(tensor: QuantizedTensor<Cpu>, min: Scalar, max: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_sub(lhs: QuantizedTensor<Cpu>, rhs: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_sub_scalar(lhs: QuantizedTensor<Cpu>, rhs: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_mul(lhs: QuantizedTensor<Cpu>, rhs: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_mul_scalar(lhs: QuantizedTensor<Cpu>, rhs: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_div(lhs: QuantizedTensor<Cpu>, rhs: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_div_scalar(lhs: QuantizedTensor<Cpu>, rhs: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_neg(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_recip(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_sum(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_sum_dim(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_prod(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_prod_dim(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_mean(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_mean_dim(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_cumsum(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_cumprod(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_cummin(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_cummax(tensor: QuantizedTensor<Cpu>, dim: usize) -> TensorPrimitive<Cpu> => primitive;
    fn q_exp(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_log(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_log1p(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_powf(lhs: QuantizedTensor<Cpu>, rhs: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_powi(lhs: QuantizedTensor<Cpu>, rhs: IntTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_powi_scalar(lhs: QuantizedTensor<Cpu>, rhs: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_powf_scalar(tensor: QuantizedTensor<Cpu>, value: Scalar) -> TensorPrimitive<Cpu> => primitive;
    fn q_sqrt(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_abs(tensor: QuantizedTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_cos(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_sin(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_tan(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_cosh(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_sinh(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_tanh(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_erf(tensor: QuantizedTensor<Cpu>) -> TensorPrimitive<Cpu> => primitive;
    fn q_cat(tensors: Vec<QuantizedTensor<Cpu>>, dim: usize) -> QuantizedTensor<Cpu>;
    fn q_argmax(tensor: QuantizedTensor<Cpu>, dim: usize, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn q_argtopk(tensor: QuantizedTensor<Cpu>, dim: usize, k: usize, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn q_topk(tensor: QuantizedTensor<Cpu>, dim: usize, k: usize) -> QuantizedTensor<Cpu>;
    fn q_argmin(tensor: QuantizedTensor<Cpu>, dim: usize, out_dtype: IntDType) -> IntTensor<Cpu>;
    fn q_max(tensor: QuantizedTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_max_dim(tensor: QuantizedTensor<Cpu>, dim: usize) -> QuantizedTensor<Cpu>;
    fn q_max_dim_with_indices(tensor: QuantizedTensor<Cpu>, dim: usize, out_dtype: IntDType) -> (QuantizedTensor<Cpu>, IntTensor<Cpu>);
    fn q_min(tensor: QuantizedTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_min_dim(tensor: QuantizedTensor<Cpu>, dim: usize) -> QuantizedTensor<Cpu>;
    fn q_min_dim_with_indices(tensor: QuantizedTensor<Cpu>, dim: usize, out_dtype: IntDType) -> (QuantizedTensor<Cpu>, IntTensor<Cpu>);
    fn q_max_abs(tensor: QuantizedTensor<Cpu>) -> QuantizedTensor<Cpu>;
    fn q_max_abs_dim(tensor: QuantizedTensor<Cpu>, dim: usize) -> QuantizedTensor<Cpu>;
    fn q_any(tensor: QuantizedTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn q_any_dim(tensor: QuantizedTensor<Cpu>, dim: usize, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn q_all(tensor: QuantizedTensor<Cpu>, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn q_all_dim(tensor: QuantizedTensor<Cpu>, dim: usize, out_dtype: BoolDType) -> BoolTensor<Cpu>;
    fn q_sort(tensor: QuantizedTensor<Cpu>, dim: usize, descending: bool) -> QuantizedTensor<Cpu>;
    fn q_sort_with_indices(tensor: QuantizedTensor<Cpu>, dim: usize, descending: bool, out_dtype: IntDType) -> (QuantizedTensor<Cpu>, IntTensor<Cpu>);
    fn q_argsort(tensor: QuantizedTensor<Cpu>, dim: usize, descending: bool, out_dtype: IntDType) -> IntTensor<Cpu>;
    }

    fn quantize(
        tensor: FloatTensor<Cpu>,
        scheme: &QuantScheme,
        qparams: QuantizationParametersPrimitive<Cpu>,
    ) -> QuantizedTensor<Cpu> {
        Flex::quantize(
            tensor,
            scheme,
            QuantizationParametersPrimitive {
                scales: qparams.scales,
            },
        )
    }
    fn q_matmul(lhs: TensorPrimitive<Cpu>, rhs: TensorPrimitive<Cpu>) -> TensorPrimitive<Cpu> {
        primitive(Flex::q_matmul(to_flex(lhs), to_flex(rhs)))
    }
}

impl TransactionOps<Cpu> for Cpu {}

fn primitive(t: TensorPrimitive<Flex>) -> TensorPrimitive<Cpu> {
    match t {
        TensorPrimitive::Float(t) => TensorPrimitive::Float(t),
        TensorPrimitive::QFloat(t) => TensorPrimitive::QFloat(t),
    }
}

fn to_flex(t: TensorPrimitive<Cpu>) -> TensorPrimitive<Flex> {
    match t {
        TensorPrimitive::Float(t) => TensorPrimitive::Float(t),
        TensorPrimitive::QFloat(t) => TensorPrimitive::QFloat(t),
    }
}
