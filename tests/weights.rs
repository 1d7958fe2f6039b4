//! Pretrained weights with torchvision key names, and freezing policies. The tests write their own
//! weight files: a torchvision-named ResNet-18 state dict (key list written from torchvision's model
//! definition) saved as safetensors, loaded into this crate's ResNet-18.

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot};
use study::model::weights::{Loaded, load, torchvision_rules};
use study::model::{Net, NetConfig};
use study::study::{Architecture, Freeze};

type B = Flex;

fn resnet(depth: u32, channels: usize, classes: usize) -> NetConfig {
    NetConfig {
        architecture: Architecture::Resnet { depth },
        in_channels: channels,
        classes,
        head: vec![],
        dropout: 0.0,
    }
}

/// torchvision's `resnet18().state_dict()` keys, in order (122 of them).
fn torchvision_resnet18_keys() -> Vec<String> {
    let bn = batchnorm;
    let mut keys = vec!["conv1.weight".to_string()];
    keys.extend(bn("bn1"));
    for layer in 1..=4 {
        for block in 0..2 {
            let p = format!("layer{layer}.{block}");
            keys.push(format!("{p}.conv1.weight"));
            keys.extend(bn(&format!("{p}.bn1")));
            keys.push(format!("{p}.conv2.weight"));
            keys.extend(bn(&format!("{p}.bn2")));
            if block == 0 && layer > 1 {
                keys.push(format!("{p}.downsample.0.weight"));
                keys.extend(bn(&format!("{p}.downsample.1")));
            }
        }
    }
    keys.extend(["fc.weight".to_string(), "fc.bias".to_string()]);
    keys
}

/// Our parameter path for a torchvision key, through the crate's rules.
fn ours(key: &str, rules: &[(String, String)]) -> String {
    let mut k = key.to_string();
    for (from, to) in rules {
        k = regex::Regex::new(from)
            .expect("rule")
            .replace(&k, to.as_str())
            .into_owned();
    }
    k
}

fn batchnorm(p: &str) -> Vec<String> {
    [
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    .iter()
    .map(|s| format!("{p}.{s}"))
    .collect()
}

/// torchvision's `densenet121().state_dict()` keys.
fn torchvision_densenet121_keys() -> Vec<String> {
    let mut keys = vec!["features.conv0.weight".to_string()];
    keys.extend(batchnorm("features.norm0"));
    for (b, n) in [6, 12, 24, 16].iter().enumerate() {
        for l in 1..=*n {
            let p = format!("features.denseblock{}.denselayer{l}", b + 1);
            keys.extend(batchnorm(&format!("{p}.norm1")));
            keys.push(format!("{p}.conv1.weight"));
            keys.extend(batchnorm(&format!("{p}.norm2")));
            keys.push(format!("{p}.conv2.weight"));
        }
        if b < 3 {
            let p = format!("features.transition{}", b + 1);
            keys.extend(batchnorm(&format!("{p}.norm")));
            keys.push(format!("{p}.conv.weight"));
        }
    }
    keys.extend(batchnorm("features.norm5"));
    keys.extend([
        "classifier.weight".to_string(),
        "classifier.bias".to_string(),
    ]);
    keys
}

/// Writes `net`'s weights as a safetensors file under the given torchvision keys.
fn write_torchvision_file(
    net: &Net<B>,
    config: &NetConfig,
    keys: Vec<String>,
    path: &std::path::Path,
) -> usize {
    let snapshots = net.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true);
    let rules = torchvision_rules(&config.architecture, true);
    let mut tensors: Vec<(String, Vec<u8>, Vec<usize>, safetensors::Dtype)> = Vec::new();
    for key in keys {
        if key.ends_with("num_batches_tracked") {
            tensors.push((
                key,
                7i64.to_le_bytes().to_vec(),
                vec![],
                safetensors::Dtype::I64,
            ));
            continue;
        }
        let path = ours(&key, &rules);
        let snap = snapshots
            .iter()
            .find(|s| s.full_path() == path)
            .unwrap_or_else(|| panic!("{key} maps to {path}, which the model lacks"));
        let data = snap.to_data().expect("data");
        let values: Vec<f32> = data.to_vec().expect("f32");
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((key, bytes, data.shape.to_vec(), safetensors::Dtype::F32));
    }
    if path.extension().is_some_and(|e| e == "pth") {
        write_pth(&tensors, path);
        return tensors.len();
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(k, b, s, d)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("view"),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("written");
    tensors.len()
}

/// Writes tensors the way `torch.save(state_dict, path)` does (PyTorch 1.6+ zip layout): a protocol-2
/// pickle of a dict of `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`
/// whose storages are persistent ids pointing at `archive/data/<k>`.
fn write_pth(
    tensors: &[(String, Vec<u8>, Vec<usize>, safetensors::Dtype)],
    path: &std::path::Path,
) {
    use std::io::Write;
    fn text(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, v: usize) {
        p.push(b'J');
        p.extend((v as i32).to_le_bytes());
    }
    fn tuple(p: &mut Vec<u8>, values: &[usize]) {
        p.push(b'(');
        values.iter().for_each(|v| int(p, *v));
        p.push(b't');
    }
    let mut p: Vec<u8> = vec![0x80, 2, b'}', b'('];
    for (k, (name, bytes, shape, dtype)) in tensors.iter().enumerate() {
        let (storage, width) = match dtype {
            safetensors::Dtype::I64 => ("LongStorage", 8),
            _ => ("FloatStorage", 4),
        };
        text(&mut p, name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        text(&mut p, "storage");
        p.extend(format!("ctorch\n{storage}\n").as_bytes());
        text(&mut p, &k.to_string());
        text(&mut p, "cpu");
        int(&mut p, bytes.len() / width);
        p.extend(b"tQ");
        int(&mut p, 0);
        tuple(&mut p, shape);
        let strides: Vec<usize> = (0..shape.len())
            .map(|d| shape[d + 1..].iter().product())
            .collect();
        tuple(&mut p, &strides);
        p.push(0x89);
        p.extend(b"ccollections\nOrderedDict\n)R");
        p.extend(b"tR");
    }
    p.extend(b"u.");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).expect("entry");
    zip.write_all(&p).expect("pickle");
    for (k, (_, bytes, _, _)) in tensors.iter().enumerate() {
        zip.start_file(format!("archive/data/{k}"), stored)
            .expect("entry");
        zip.write_all(bytes).expect("storage");
    }
    zip.start_file("archive/version", stored).expect("entry");
    zip.write_all(b"3\n").expect("version");
    zip.finish().expect("zip");
}

fn logits(net: &Net<B>, channels: usize) -> Vec<f32> {
    let device = Default::default();
    let x: Vec<f32> = (0..2 * channels * 64 * 64)
        .map(|i| ((i * 37 % 101) as f32 / 101.0) - 0.5)
        .collect();
    net.forward(Tensor::from_data(
        TensorData::new(x, [2, channels, 64, 64]),
        &device,
    ))
    .into_data()
    .to_vec()
    .expect("f32")
}

#[test]
fn torchvision_resnet18_weights_load_into_our_resnet18() {
    let device = Default::default();
    let config = resnet(18, 3, 1000);
    B::seed(&device, 1);
    let source: Net<B> = Net::new(&config, &device);
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("resnet18.safetensors");
    assert_eq!(
        write_torchvision_file(&source, &config, torchvision_resnet18_keys(), &file),
        122,
        "torchvision's key count"
    );

    B::seed(&device, 2);
    let mut fresh: Net<B> = Net::new(&config, &device);
    assert_ne!(logits(&fresh, 3), logits(&source, 3));
    let loaded: Loaded = load(&mut fresh, &file, &config).expect("loads");
    assert_eq!(loaded.problems(), None, "{loaded:?}");
    assert!(loaded.head_loaded);
    // 102 tensors: everything but the 20 batch-norm counters.
    assert_eq!(loaded.applied, 102);
    let (a, b) = (logits(&source, 3), logits(&fresh, 3));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "outputs differ by {worst}");

    // A two-class head with hidden layers starts fresh; the backbone still loads completely.
    let mut task = NetConfig {
        classes: 2,
        head: vec![16],
        ..config.clone()
    };
    task.in_channels = 3;
    let mut net: Net<B> = Net::new(&task, &device);
    let loaded = load(&mut net, &file, &task).expect("loads");
    assert_eq!(loaded.problems(), None, "{loaded:?}");
    assert!(!loaded.head_loaded);
}

#[test]
fn weights_that_do_not_fit_are_listed() {
    let device = Default::default();
    let config = resnet(18, 3, 1000);
    let source: Net<B> = Net::new(&config, &device);
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("resnet18.safetensors");
    write_torchvision_file(&source, &config, torchvision_resnet18_keys(), &file);

    // Into ResNet-34: the deeper layers' blocks are missing, the block shapes line up otherwise.
    let deeper = resnet(34, 3, 1000);
    let mut net: Net<B> = Net::new(&deeper, &device);
    let problems = load(&mut net, &file, &deeper)
        .expect("reads")
        .problems()
        .expect("problems");
    assert!(
        problems.contains("missing") && problems.contains("blocks."),
        "{problems}"
    );

    // Into a one-channel ResNet-18: the first convolution's shape differs.
    let gray = resnet(18, 1, 1000);
    let mut net: Net<B> = Net::new(&gray, &device);
    let problems = load(&mut net, &file, &gray)
        .expect("reads")
        .problems()
        .expect("problems");
    assert!(
        problems.contains("mismatched")
            && problems.contains(
                "`stem.conv.weight` is 64×3×7×7 in the file, the study's network needs 64×1×7×7"
            ),
        "{problems}"
    );

    // A file that is not a weights file.
    std::fs::write(dir.path().join("junk.safetensors"), b"not a tensor file").expect("write");
    assert!(load(&mut net, &dir.path().join("junk.safetensors"), &gray).is_err());
}

/// Parameters by path, as flat vectors.
type Parameters = Vec<(String, Vec<f32>)>;

fn parameters(net: &Net<Flex>) -> Parameters {
    net.collect(None, None, true)
        .iter()
        .map(|s| {
            (
                s.full_path(),
                s.to_data().expect("data").to_vec().expect("f32"),
            )
        })
        .collect()
}

fn train_once(freeze: Freeze) -> (Parameters, Parameters) {
    use study::train::{Run, Samples, train};
    let text = "study \"f\" { seed 1 }\ndataset d = synthetic { source a { images 8 } }\ncrop full = full\npreprocess p { resize 16 }\nmodel m = cnn(channels: [4, 8])\ntrain t { optimizer sgd(lr: 0.5, momentum: 0.9), epochs 1, batch 8 }\nsplit s = random { data d, fractions { train 100% } }\nexperiment e { model m, crop full, split s, preprocess p, train t, evaluate [train] }\n";
    let loaded = study::load_bytes("f.study", text.as_bytes(), None);
    let s = loaded.study.expect("valid");
    let config = NetConfig {
        architecture: Architecture::Cnn {
            channels: vec![4, 8],
            kernel: 3,
        },
        in_channels: 1,
        classes: 2,
        head: vec![],
        dropout: 0.0,
    };
    let device = Default::default();
    B::seed(&device, 4);
    let start: Net<B> = Net::new(&config, &device);
    // Reading the parameters initialises them (burn draws lazily), before the record is taken.
    let before = parameters(&start);
    let bytes = burn::record::Recorder::<B>::record(
        &burn::record::BinBytesRecorder::<burn::record::FullPrecisionSettings>::default(),
        burn::module::Module::into_record(start),
        (),
    )
    .expect("record");
    let images: Vec<Vec<u8>> = (0..8)
        .map(|k| (0..256).map(|i| ((i * 7 + k * 31) % 256) as u8).collect())
        .collect();
    let labels: Vec<usize> = (0..8).map(|k| k % 2).collect();
    let run = Run {
        net: config,
        training: &s.trainings["t"],
        preprocess: &s.preprocessings["p"],
        size: 16,
        positive: 0,
        seed: 5,
        train: Samples {
            images: &images,
            labels: &labels,
        },
        validation: None,
        progress: None,
        checkpoint: None,
        epoch_budget: None,
        init: Some(&bytes),
        freeze,
    };
    let trained = train::<Autodiff<Flex>>(&run, &device).expect("trains");
    (before, parameters(&trained.nets[0]))
}

fn changed(before: &Parameters, after: &Parameters, path: &str) -> bool {
    let find = |v: &[(String, Vec<f32>)]| {
        v.iter()
            .find(|(p, _)| p == path)
            .map(|(_, x)| x.clone())
            .unwrap_or_else(|| panic!("no {path}"))
    };
    find(before) != find(after)
}

#[test]
fn freezing_keeps_the_frozen_parameters_fixed() {
    let (before, after) = train_once(Freeze::None);
    assert!(changed(&before, &after, "stages.0.conv.weight"));
    assert!(changed(&before, &after, "head.output.weight"));

    let (before, after) = train_once(Freeze::AllButHead);
    assert!(!changed(&before, &after, "stages.0.conv.weight"));
    assert!(!changed(&before, &after, "stages.1.bn.gamma"));
    assert!(changed(&before, &after, "head.output.weight"));
    assert!(changed(&before, &after, "head.output.bias"));

    let (before, after) = train_once(Freeze::AllButBatchnorm);
    assert!(!changed(&before, &after, "stages.0.conv.weight"));
    assert!(!changed(&before, &after, "stages.1.conv.weight"));
    assert!(changed(&before, &after, "stages.0.bn.gamma"));
    assert!(changed(&before, &after, "stages.1.bn.beta"));
    assert!(changed(&before, &after, "head.output.weight"));
}

#[test]
fn torchvision_densenet121_weights_load_into_our_densenet121() {
    let device = Default::default();
    let config = NetConfig {
        architecture: Architecture::Densenet { depth: 121 },
        ..resnet(18, 3, 1000)
    };
    B::seed(&device, 1);
    let source: Net<B> = Net::new(&config, &device);
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("densenet121.safetensors");
    // torchvision's densenet121 state dict has 727 entries (121 batch-norm counters among them).
    assert_eq!(
        write_torchvision_file(&source, &config, torchvision_densenet121_keys(), &file),
        727
    );
    let mut fresh: Net<B> = Net::new(&config, &device);
    let loaded = load(&mut fresh, &file, &config).expect("loads");
    assert_eq!(loaded.problems(), None, "{loaded:?}");
    let (a, b) = (logits(&source, 3), logits(&fresh, 3));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4));
}

#[test]
fn every_torchvision_vgg_key_has_a_place_in_our_vgg() {
    // torchvision's VGG-11 `features` indices: convolutions at 0, 3, 6, 8, 11, 13, 16, 18.
    let config = NetConfig {
        architecture: Architecture::Vgg { depth: 11 },
        ..resnet(18, 3, 1000)
    };
    let device = Default::default();
    let net: Net<B> = Net::new(&config, &device);
    let paths: Vec<String> = net
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .iter()
        .map(|s| s.full_path())
        .collect();
    let rules = torchvision_rules(&config.architecture, true);
    let mut keys: Vec<String> = [0, 3, 6, 8, 11, 13, 16, 18]
        .iter()
        .flat_map(|i| [format!("features.{i}.weight"), format!("features.{i}.bias")])
        .collect();
    keys.extend([0, 3, 6].iter().flat_map(|i| {
        [
            format!("classifier.{i}.weight"),
            format!("classifier.{i}.bias"),
        ]
    }));
    let mapped: Vec<String> = keys.iter().map(|k| ours(k, &rules)).collect();
    for (k, m) in keys.iter().zip(&mapped) {
        assert!(paths.contains(m), "{k} -> {m} is not a parameter");
    }
    assert_eq!(
        mapped.len(),
        paths.len(),
        "every parameter has a torchvision key"
    );
}

#[test]
fn a_pytorch_state_dict_file_loads_like_the_safetensors_one() {
    let device = Default::default();
    let config = resnet(18, 3, 1000);
    B::seed(&device, 3);
    let source: Net<B> = Net::new(&config, &device);
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("resnet18.pth");
    assert_eq!(
        write_torchvision_file(&source, &config, torchvision_resnet18_keys(), &file),
        122
    );
    let mut fresh: Net<B> = Net::new(&config, &device);
    let loaded = load(&mut fresh, &file, &config).expect("loads");
    assert_eq!(loaded.problems(), None, "{loaded:?}");
    assert_eq!(loaded.applied, 102);
    let (a, b) = (logits(&source, 3), logits(&fresh, 3));
    assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
}

#[test]
fn an_imagenet_classifier_is_replaced_by_the_studys_head() {
    // torchvision's ResNet-18 state dict as `torch.save` writes it: a 1000-class `fc`.
    let device = Default::default();
    let imagenet = resnet(18, 3, 1000);
    B::seed(&device, 4);
    let source: Net<B> = Net::new(&imagenet, &device);
    let dir = tempfile::tempdir().expect("temp");
    let file = dir.path().join("resnet18.pth");
    write_torchvision_file(&source, &imagenet, torchvision_resnet18_keys(), &file);

    // Into a 2-class study with no hidden head layers: the backbone loads, the classifier is replaced.
    let study = resnet(18, 3, 2);
    let mut net: Net<B> = Net::new(&study, &device);
    let loaded = load(&mut net, &file, &study).expect("loads");
    assert_eq!(loaded.problems(), None, "{loaded:?}");
    assert!(!loaded.head_loaded);
    assert_eq!(
        loaded.replaced_head,
        [
            "`head.output.weight` is 1000×512 in the file, the study's network needs 2×512",
            "`head.output.bias` is 1000 in the file, the study's network needs 2",
        ]
    );
    // The backbone is the file's: the stem's weights equal the source's.
    let stem = |n: &Net<B>| {
        parameters(n)
            .into_iter()
            .find(|(p, _)| p == "stem.conv.weight")
            .expect("stem")
            .1
    };
    assert_eq!(stem(&net), stem(&source));
}

#[test]
fn a_study_starts_from_an_imagenet_checkpoint_and_its_report_says_the_head_was_replaced() {
    let device = Default::default();
    let imagenet = resnet(18, 3, 1000);
    B::seed(&device, 5);
    let source: Net<B> = Net::new(&imagenet, &device);
    let dir = tempfile::tempdir().expect("temp");
    write_torchvision_file(
        &source,
        &imagenet,
        torchvision_resnet18_keys(),
        &dir.path().join("resnet18.pth"),
    );
    let text = r#"study "pretrained" { seed 1 }
dataset phantom = synthetic { size 32, source a { images 24, covid 50% }, source b { images 24, covid 50% } }
crop full = full
preprocess p { channels 3, resize 32, normalize imagenet }
model r18 = resnet(depth: 18, weights: "resnet18.pth", freeze: all_but_batchnorm)
train t { optimizer adam(lr: 1e-3), epochs 1, batch 8 }
split s = by_source { data phantom, seen [a], unseen [b] }
experiment e { model r18, crop full, split s, preprocess p, train t }
"#;
    let file = dir.path().join("pretrained.study");
    std::fs::write(&file, text).expect("study");
    let out = dir.path().join("out");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_study"))
        .args(["run", "--quiet", "--out"])
        .arg(&out)
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let said = "resnet18.pth: the file's classifier does not fit the study's 2 classes and was replaced by a new head (`head.output.weight` is 1000×512 in the file, the study's network needs 2×512";
    assert!(stderr.contains(said), "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains(&format!("**Note:** {said}")), "{md}");
}
