//! Adam as one pass over each parameter tensor.
//!
//! burn's `Adam` updates a parameter through about a dozen whole-tensor operations (moments, bias
//! correction, square root, division, the step), each reading and writing every value again. [`FusedAdam`]
//! is the same optimiser, with burn's record (its checkpoints load either way): on [`Cpu`] each value of the
//! parameter, its gradient and its two moments is read once and written once, in place where the buffers
//! are held by nobody else; other backends run burn's own step. The arithmetic is burn's, operation for
//! operation in f32, so the two give the same bits (`tests/backend.rs` checks it).

use super::{Cpu, ModelBackend, owned};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, SimpleOptimizer,
};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, TensorPrimitive};
use rayon::prelude::*;

/// burn's Adam (no AMSGrad, no gradient clipping), fused where the backend allows.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Coupled (L2) weight decay: the gradient gains `penalty · parameter`.
    penalty: Option<f32>,
    /// burn's optimiser with the same settings, for backends without a fused step.
    composed: Adam,
}

/// burn's `AdamConfig::new()`: β₁ 0.9, β₂ 0.999, ε 1e-5, no weight decay.
impl Default for FusedAdam {
    fn default() -> Self {
        FusedAdam::new(0.9, 0.999, 1e-5, None)
    }
}

impl FusedAdam {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: Option<f32>) -> Self {
        let config = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay.map(WeightDecayConfig::new));
        FusedAdam {
            beta_1,
            beta_2,
            epsilon,
            penalty: weight_decay,
            composed: config.build(),
        }
    }

    /// The optimiser of a module trained on `B`.
    pub fn init<B, M>(self) -> OptimizerAdaptor<Self, M, B>
    where
        B: AutodiffBackend<InnerBackend: ModelBackend>,
        M: AutodiffModule<B>,
    {
        OptimizerAdaptor::from(self)
    }

    /// burn's own step.
    pub(super) fn composed_step<B: Backend, const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<AdamState<B, D>>,
    ) -> (Tensor<B, D>, Option<AdamState<B, D>>) {
        SimpleOptimizer::<B>::step(&self.composed, lr, param, grad, state)
    }
}

impl<B: ModelBackend> SimpleOptimizer<B> for FusedAdam {
    type State<const D: usize> = AdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        B::adam_step(self, lr, param, grad, state)
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

/// The constants of step `time` (from 1), as burn's Adam derives them.
struct StepConstants {
    beta_1: f32,
    beta_2: f32,
    /// `1 − β₁`, `1 − β₂`.
    factor_1: f32,
    factor_2: f32,
    /// `√(1 − β₂ᵗ) / (1 − β₁ᵗ)`.
    combined: f32,
    /// `ε · √(1 − β₂ᵗ)`.
    epsilon: f32,
    penalty: Option<f32>,
    lr: f32,
}

impl StepConstants {
    fn new(adam: &FusedAdam, time: usize, lr: LearningRate) -> Self {
        let time = time as i32;
        let correction_2 = (1.0 - adam.beta_2.powi(time)).sqrt();
        StepConstants {
            beta_1: adam.beta_1,
            beta_2: adam.beta_2,
            factor_1: 1.0 - adam.beta_1,
            factor_2: 1.0 - adam.beta_2,
            combined: correction_2 / (1.0 - adam.beta_1.powi(time)),
            epsilon: adam.epsilon * correction_2,
            penalty: adam.penalty,
            lr: lr as f32,
        }
    }

    /// One value's step: `(parameter, first moment, second moment)` updated from its gradient `g`.
    #[inline(always)]
    fn apply(&self, w: &mut f32, m: &mut f32, v: &mut f32, g: f32) {
        let g = match self.penalty {
            Some(p) => *w * p + g,
            None => g,
        };
        *m = *m * self.beta_1 + g * self.factor_1;
        *v = *v * self.beta_2 + g * g * self.factor_2;
        let update = *m * self.combined / (v.sqrt() + self.epsilon);
        *w -= update * self.lr;
    }
}

/// Values per parallel task: enough that a task outweighs its scheduling.
const CHUNK: usize = 1 << 14;

/// Adam's step on [`Cpu`] in one pass; burn's step for tensors of another element type.
pub(super) fn fused<const D: usize>(
    adam: &FusedAdam,
    lr: LearningRate,
    param: Tensor<Cpu, D>,
    grad: Tensor<Cpu, D>,
    state: Option<AdamState<Cpu, D>>,
) -> (Tensor<Cpu, D>, Option<AdamState<Cpu, D>>) {
    let f32_only = [&param, &grad]
        .into_iter()
        .chain(
            state
                .iter()
                .flat_map(|s| [&s.momentum.moment_1, &s.momentum.moment_2]),
        )
        .all(|t| t.dtype() == DType::F32);
    let amsgrad = state
        .as_ref()
        .is_some_and(|s| s.momentum.max_moment_2.is_some());
    if !f32_only || amsgrad {
        return adam.composed_step(lr, param, grad, state);
    }
    let shape = param.shape();
    let primitive = |t: Tensor<Cpu, D>| owned(t.into_primitive().tensor());
    let (time, moments) = match state {
        Some(s) => (
            s.momentum.time + 1,
            Some((
                primitive(s.momentum.moment_1),
                primitive(s.momentum.moment_2),
            )),
        ),
        None => (1, None),
    };
    let (mut w, g) = (primitive(param), grad.into_primitive().tensor());
    let zeros = || super::tensor(vec![0.0; shape.num_elements()], shape.clone());
    let (mut m, mut v) = moments.unwrap_or_else(|| (zeros(), zeros()));
    let constants = StepConstants::new(adam, time, lr);
    let g = super::values(&g).expect("an f32 gradient");
    let n = shape.num_elements();
    w.storage_mut::<f32>()[..n]
        .par_chunks_mut(CHUNK)
        .zip(m.storage_mut::<f32>()[..n].par_chunks_mut(CHUNK))
        .zip(v.storage_mut::<f32>()[..n].par_chunks_mut(CHUNK))
        .zip(g.par_chunks(CHUNK))
        .for_each(|(((w, m), v), g)| {
            for (((w, m), v), &g) in w.iter_mut().zip(m).zip(v).zip(g) {
                constants.apply(w, m, v, g);
            }
        });
    let tensor = |t| Tensor::<Cpu, D>::from_primitive(TensorPrimitive::Float(t));
    let momentum = AdaptiveMomentumState::new(time, tensor(m), tensor(v));
    (tensor(w), Some(AdamState::new(momentum)))
}
