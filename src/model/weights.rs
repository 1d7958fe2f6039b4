//! Pretrained weights with torchvision key names (`.pth`/`.pt` PyTorch state dicts or `.safetensors`)
//! loaded into this crate's architectures, and freezing policies.
//!
//! torchvision's names are mapped onto ours by explicit rules per architecture (`layer2.1.conv1` is our
//! `blocks.3.a.conv`); linear weights are transposed and batch-norm `weight`/`bias` become `gamma`/`beta`.
//! The classification layer (`fc`, `classifier`) is loaded only when the head has no hidden layers and the
//! same number of classes; otherwise the head starts fresh, which is what fine-tuning a pretrained
//! backbone on a new task means.

use super::{Net, NetConfig};
use crate::study::{Architecture, Freeze};
use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn_store::{ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};
use std::path::Path;

/// What loading found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    pub applied: usize,
    /// Our parameters the file does not provide.
    pub missing: Vec<String>,
    /// Keys of the file that fit no parameter.
    pub unexpected: Vec<String>,
    /// Shape or type mismatches, in words.
    pub errors: Vec<String>,
    /// The file's classifier, left out because its shape does not fit the study's head (which then starts
    /// from drawn weights), in words.
    pub replaced_head: Vec<String>,
    /// Whether the classification layer came from the file.
    pub head_loaded: bool,
}

impl Loaded {
    /// Every backbone parameter must come from the file and every file key must be used (the
    /// classification layer and batch-norm counters excepted).
    pub fn problems(&self) -> Option<String> {
        let head = |k: &str| k.starts_with("head.");
        let missing: Vec<&String> = self.missing.iter().filter(|k| !head(k)).collect();
        if missing.is_empty() && self.unexpected.is_empty() && self.errors.is_empty() {
            return None;
        }
        let list = |v: Vec<&String>| {
            let more = if v.len() > 4 {
                format!(" and {} more", v.len() - 4)
            } else {
                String::new()
            };
            format!(
                "{}{more}",
                v.iter()
                    .take(4)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut parts = Vec::new();
        if !self.errors.is_empty() {
            parts.push(format!(
                "{} mismatched: {}",
                self.errors.len(),
                list(self.errors.iter().collect())
            ));
        }
        if !missing.is_empty() {
            parts.push(format!("{} missing: {}", missing.len(), list(missing)));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!(
                "{} unexpected: {}",
                self.unexpected.len(),
                list(self.unexpected.iter().collect())
            ));
        }
        Some(parts.join("; "))
    }
}

/// (torchvision key regex, our path) rules for an architecture; `with_classifier` maps the last layer.
pub fn torchvision_rules(
    architecture: &Architecture,
    with_classifier: bool,
) -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = Vec::new();
    let mut rule =
        |from: String, to: String| rules.push((format!("^{from}\\.(.*)$"), format!("{to}.$1")));
    match architecture {
        Architecture::Resnet { depth } => {
            rule("conv1".into(), "stem.conv".into());
            rule("bn1".into(), "stem.bn".into());
            let layers: [usize; 4] = if *depth == 18 {
                [2, 2, 2, 2]
            } else {
                [3, 4, 6, 3]
            };
            let mut block = 0;
            for (l, n) in layers.iter().enumerate() {
                for b in 0..*n {
                    let from = format!("layer{}\\.{b}", l + 1);
                    for (tv, ours) in [
                        ("conv1", "a.conv"),
                        ("bn1", "a.bn"),
                        ("conv2", "b.conv"),
                        ("bn2", "b.bn"),
                        ("conv3", "c.conv"),
                        ("bn3", "c.bn"),
                        ("downsample\\.0", "downsample.conv"),
                        ("downsample\\.1", "downsample.bn"),
                    ] {
                        rule(format!("{from}\\.{tv}"), format!("blocks.{block}.{ours}"));
                    }
                    block += 1;
                }
            }
            if with_classifier {
                rule("fc".into(), "head.output".into());
            }
        }
        Architecture::Densenet { .. } => {
            rule("features\\.conv0".into(), "conv0".into());
            rule("features\\.norm0".into(), "norm0".into());
            rule("features\\.norm5".into(), "norm5".into());
            for (b, n) in super::densenet::BLOCKS.iter().enumerate() {
                for l in 0..*n {
                    rule(
                        format!("features\\.denseblock{}\\.denselayer{}", b + 1, l + 1),
                        format!("blocks.{b}.{l}"),
                    );
                }
                rule(
                    format!("features\\.transition{}", b + 1),
                    format!("transitions.{b}"),
                );
            }
            if with_classifier {
                rule("classifier".into(), "head.output".into());
            }
        }
        Architecture::Vgg { depth } => {
            // torchvision's `features` interleaves convolution, ReLU (and pooling) modules.
            let (mut index, mut conv) = (0, 0);
            for c in super::vgg::layout(*depth) {
                if *c == 0 {
                    index += 1;
                } else {
                    rule(format!("features\\.{index}"), format!("convs.{conv}"));
                    index += 2;
                    conv += 1;
                }
            }
            rule("classifier\\.0".into(), "fc1".into());
            rule("classifier\\.3".into(), "fc2".into());
            if with_classifier {
                rule("classifier\\.6".into(), "head.output".into());
            }
        }
        Architecture::Cnn { .. } => {}
    }
    rules
}

/// Whether the file's classification layer fits the head (no hidden layers, 1000 ImageNet classes or
/// the same number as ours is decided by shape when loading).
fn classifier_fits(config: &NetConfig) -> bool {
    config.head.is_empty()
}

/// Why a weights file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error(transparent)]
    Safetensors(#[from] burn_store::SafetensorsStoreError),
    #[error(transparent)]
    Pytorch(#[from] burn_store::PytorchStoreError),
}

/// Loads a weights file into `net`. Files ending in `.safetensors` are read as safetensors, anything else
/// as a PyTorch pickle (`.pth`, `.pt`, `.bin`).
pub fn load<B: Backend>(
    net: &mut Net<B>,
    path: &Path,
    config: &NetConfig,
) -> Result<Loaded, WeightsError> {
    let with_classifier = classifier_fits(config);
    let rules = torchvision_rules(&config.architecture, with_classifier);
    // Keys that never map: batch-norm counters, and the classifier when the head is new.
    let ignored = |k: &str| {
        k.ends_with("num_batches_tracked")
            || (!with_classifier && (k.starts_with("fc.") || k.starts_with("classifier")))
    };
    let result = if path.extension().is_some_and(|e| e == "safetensors") {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .allow_partial(true)
            .skip_enum_variants(true)
            .map_indices_contiguous(false)
            .validate(false);
        for (from, to) in &rules {
            store = store.with_key_remapping(from, to.clone());
        }
        net.load_from(&mut store)?
    } else {
        let mut store = PytorchStore::from_file(path)
            .allow_partial(true)
            .map_indices_contiguous(false)
            .validate(false);
        for (from, to) in &rules {
            store = store.with_key_remapping(from, to.clone());
        }
        net.load_from(&mut store)?
    };
    let head_loaded = with_classifier && result.applied.iter().any(|k| k.starts_with("head."));
    // Batch-norm `weight`/`bias` are applied as `gamma`/`beta`; the store still lists the file's names.
    let renamed = |k: &str| {
        let applied = |name: String| result.applied.contains(&name);
        k.strip_suffix(".weight")
            .is_some_and(|p| applied(format!("{p}.gamma")))
            || k.strip_suffix(".bias")
                .is_some_and(|p| applied(format!("{p}.beta")))
    };
    Ok(Loaded {
        applied: result.applied.len(),
        missing: result.missing.iter().map(|(p, _)| p.clone()).collect(),
        unexpected: result
            .unused
            .iter()
            .filter(|k| !ignored(k) && !renamed(k))
            .cloned()
            .collect(),
        errors: result
            .errors
            .iter()
            .filter(|e| !in_head(e))
            .map(describe)
            .collect(),
        replaced_head: result
            .errors
            .iter()
            .filter(|e| in_head(e))
            .map(describe)
            .collect(),
        head_loaded,
    })
}

/// Whether a loading error is about the classification layer (a 1000-class ImageNet `fc` for a 2-class
/// study): that layer is then replaced by the study's own head instead of failing.
fn in_head(e: &burn_store::ApplyError) -> bool {
    matches!(e, burn_store::ApplyError::ShapeMismatch { path, .. } if path.starts_with("head."))
}

/// A loading error in words: shapes as PyTorch writes them (a linear layer's weight is out × in).
fn describe(e: &burn_store::ApplyError) -> String {
    use burn_store::ApplyError;
    let shape = |path: &str, dims: &[usize]| {
        let mut dims = dims.to_vec();
        // burn keeps a linear weight as in × out; the file and torchvision write out × in.
        if dims.len() == 2 && path.ends_with(".weight") {
            dims.reverse();
        }
        dims.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("×")
    };
    match e {
        ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => format!(
            "`{path}` is {} in the file, the study's network needs {}",
            shape(path, found.as_slice()),
            shape(path, expected.as_slice())
        ),
        ApplyError::DTypeMismatch {
            path,
            expected,
            found,
        } => format!("`{path}` holds {found:?} values, the study's network needs {expected:?}"),
        other => other.to_string(),
    }
}

/// Marks parameters as frozen (no gradient) by policy: everything but the head, or everything but
/// batch-norm and the head (the head is always trained: it is new for the task).
struct Freezer {
    policy: Freeze,
    path: Vec<String>,
    /// Container types on the path (`BatchNorm`, `Head`).
    containers: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for Freezer {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.push(name.to_string());
        self.containers.push(container.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let in_head = self.path.iter().any(|p| p == "head");
        let in_batchnorm = self.containers.iter().any(|c| c.contains("BatchNorm"));
        let trainable = match self.policy {
            Freeze::None => true,
            Freeze::AllButHead => in_head,
            Freeze::AllButBatchnorm => in_head || in_batchnorm,
        };
        if trainable {
            param
        } else {
            param.set_require_grad(false)
        }
    }
}

pub fn freeze<B: Backend>(net: Net<B>, policy: Freeze) -> Net<B> {
    if policy == Freeze::None {
        return net;
    }
    net.map(&mut Freezer {
        policy,
        path: Vec::new(),
        containers: Vec::new(),
    })
}
