//! Architectures in burn: a configurable small CNN, ResNet-18/34/50, DenseNet-121, VGG-11/16, with a
//! classification head (optional hidden layers: dense → ReLU → batch-norm). Layer shapes follow
//! torchvision, so parameter counts match the reference models and torchvision weights can be mapped.

mod densenet;
mod layers;
mod resnet;
pub mod unet;
mod vgg;
pub mod weights;

pub use layers::Head;

use crate::backend::ModelBackend;
use crate::study::Architecture;
use burn::module::Module;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use layers::ConvBn;

/// Everything an architecture needs besides its name.
#[derive(Clone, Debug)]
pub struct NetConfig {
    pub architecture: Architecture,
    pub in_channels: usize,
    pub classes: usize,
    /// Hidden widths of the head.
    pub head: Vec<usize>,
    pub dropout: f64,
}

/// One network of any declared architecture.
#[derive(Module, Debug)]
pub enum Net<B: Backend> {
    Cnn(Cnn<B>),
    Resnet(resnet::ResNet<B>),
    Densenet(densenet::DenseNet<B>),
    Vgg(vgg::Vgg<B>),
}

/// burn's random generator (initial weights, dropout) is shared by the process: one user at a time holds
/// it — a training from seeding to its end, a network built to load weights into — so that the same
/// seed always gives the same weights, whatever else the process computes at the time.
static BACKEND_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// Whether this thread holds `BACKEND_RNG` (a training builds networks while it holds it).
    static HOLDING_RNG: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A hold of burn's random generator, released when dropped.
pub struct RngHold(Option<std::sync::MutexGuard<'static, ()>>);

impl Drop for RngHold {
    fn drop(&mut self) {
        if self.0.is_some() {
            HOLDING_RNG.with(|h| h.set(false));
        }
    }
}

/// Holds burn's process-wide random generator until the hold drops; within a hold on the same thread,
/// holding again is free.
pub fn hold_backend_rng() -> RngHold {
    if HOLDING_RNG.with(|h| h.get()) {
        return RngHold(None);
    }
    let guard = BACKEND_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    HOLDING_RNG.with(|h| h.set(true));
    RngHold(Some(guard))
}

impl<B: ModelBackend> Net<B> {
    /// A network with initial weights drawn from burn's generator (held while drawing).
    pub fn new(config: &NetConfig, device: &B::Device) -> Self {
        let _rng = hold_backend_rng();
        match &config.architecture {
            Architecture::Cnn { channels, kernel } => {
                Net::Cnn(Cnn::new(config, channels, *kernel as usize, device))
            }
            Architecture::Resnet { depth } => {
                Net::Resnet(resnet::ResNet::new(config, *depth, device))
            }
            Architecture::Densenet { .. } => Net::Densenet(densenet::DenseNet::new(config, device)),
            Architecture::Vgg { depth } => Net::Vgg(vgg::Vgg::new(config, *depth, device)),
        }
    }

    /// Logits `[batch, classes]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.classify(self.features(x))
    }

    /// The last convolutional feature maps (what Grad-CAM weighs).
    pub fn features(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Net::Cnn(m) => m.features(x),
            Net::Resnet(m) => m.features(x),
            Net::Densenet(m) => m.features(x),
            Net::Vgg(m) => m.features(x),
        }
    }

    /// Logits from the feature maps: global pooling and the head.
    pub fn classify(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Net::Cnn(m) => m.classify(features),
            Net::Resnet(m) => m.classify(features),
            Net::Densenet(m) => m.classify(features),
            Net::Vgg(m) => m.classify(features),
        }
    }
}

/// A small CNN: per stage a k×k convolution, batch-norm, ReLU and 2×2 max pooling; then global average
/// pooling and the head.
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    stages: Vec<ConvBn<B>>,
    pool: MaxPool2d,
    gap: AdaptiveAvgPool2d,
    head: Head<B>,
}

impl<B: ModelBackend> Cnn<B> {
    fn new(config: &NetConfig, channels: &[u32], kernel: usize, device: &B::Device) -> Self {
        let mut stages = Vec::new();
        let mut c_in = config.in_channels;
        for c in channels {
            stages.push(ConvBn::new(
                c_in,
                *c as usize,
                kernel,
                1,
                kernel / 2,
                device,
            ));
            c_in = *c as usize;
        }
        Cnn {
            stages,
            pool: MaxPool2dConfig::new([2, 2]).init(),
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            head: Head::new(c_in, config, device),
        }
    }

    fn features(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        for stage in &self.stages {
            x = self.pool.forward(stage.forward_relu(x));
        }
        x
    }

    fn classify(&self, features: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.gap.forward(features).flatten(1, 3))
    }
}

/// Counts trainable parameters: every float parameter except batch-norm running statistics (which burn
/// stores as module state beside the weights, and torchvision counts as buffers, not parameters).
struct TrainableCount {
    path: Vec<String>,
    count: usize,
}

impl<B: Backend> burn::module::ModuleVisitor<B> for TrainableCount {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        if !matches!(
            self.path.last().map(String::as_str),
            Some("running_mean" | "running_var")
        ) {
            self.count += param.shape().num_elements();
        }
    }
}

/// The number of trainable parameters of a network.
pub fn trainable_parameters<B: Backend>(net: &Net<B>) -> usize {
    let mut counter = TrainableCount {
        path: Vec::new(),
        count: 0,
    };
    net.visit(&mut counter);
    counter.count
}
