//! Training on burn (CPU): a small CNN learns what the data holds, deterministically.

mod common;
use burn::backend::{Autodiff, Flex};
use common::checked;
use std::path::Path;
use study::data::cache::{PreparedImage, prepare};
use study::data::{DataContext, load_dataset, split::assign};
use study::eval::metrics::{Scores, auc};
use study::model::NetConfig;
use study::study::{Architecture, Study};
use study::train::{Run, Samples, batch::Batcher, predict, train};

type B = Autodiff<Flex>;

/// Prepared images and labels (index in `classes` of the record's `field`) of one partition.
fn partition(
    s: &Study,
    dataset: &str,
    split: &str,
    part: &str,
    field: &str,
    classes: &[&str],
    dir: &Path,
) -> (Vec<Vec<u8>>, Vec<usize>) {
    let ctx = DataContext {
        root: dir.to_path_buf(),
        seed: s.seed,
    };
    let table = load_dataset(s, dataset, &ctx).expect("loads");
    let a = assign(split, &s.splits[split], &table, s.seed).expect("assigns");
    let members: Vec<_> = a
        .members(0, part)
        .into_iter()
        .map(|i| table.records[i].clone())
        .collect();
    let prepared = prepare(
        &members,
        s,
        s.seed,
        &s.crops["full"],
        &s.preprocessings["p"],
        None,
        "",
        None,
    );
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (r, o) in members.iter().zip(prepared.outcomes) {
        if let Ok(PreparedImage::Image(px)) = o {
            let value = r.attribute(field).expect("attribute");
            labels.push(
                classes
                    .iter()
                    .position(|c| *c == value)
                    .expect("known class"),
            );
            images.push(px);
        }
    }
    (images, labels)
}

fn run<'a>(
    s: &'a Study,
    train_set: Samples<'a>,
    validation: Option<Samples<'a>>,
    seed: u64,
) -> Run<'a> {
    Run {
        net: NetConfig {
            architecture: Architecture::Cnn {
                channels: vec![8, 16, 32],
                kernel: 3,
            },
            in_channels: 1,
            classes: 2,
            head: vec![],
            dropout: 0.0,
        },
        training: &s.trainings["quick"],
        preprocess: &s.preprocessings["p"],
        size: 64,
        positive: 1,
        seed,
        train: train_set,
        validation,
        progress: None,
        init: None,
        freeze: study::study::Freeze::None,
        checkpoint: None,
        epoch_budget: None,
    }
}

#[test]
fn a_small_cnn_tells_nih_from_kermany_images() {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cxr-real/manifest.csv");
    if !manifest.exists() {
        eprintln!("skipped: {} is absent", manifest.display());
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let s = common::checked_outside(
        &format!(
            "study \"t\" {{ seed 4 }}\ndataset cxr = csv(\"{}\") {{\n  image column \"path\"\n  label column \"label\"\n  source column \"source\"\n  keep source in [\"nih-chestxray14\", \"kermany-pediatric-cxr\"]\n}}\ncrop full = full\npreprocess p {{ resize 64 }}\nmodel m = cnn(channels: [8, 16, 32])\ntrain quick {{ optimizer adam(lr: 2e-3), epochs 2, batch 16 }}\nsplit s = random {{ data cxr, fractions {{ train 70%, test 30% }} }}\nexperiment e {{ model m, crop full, split s, preprocess p, train quick }}\n",
            manifest.display()
        ),
        dir.path(),
    );
    let classes = ["nih-chestxray14", "kermany-pediatric-cxr"];
    let (train_x, train_y) = partition(&s, "cxr", "s", "train", "source", &classes, dir.path());
    let (test_x, test_y) = partition(&s, "cxr", "s", "test", "source", &classes, dir.path());
    assert_eq!(train_x.len() + test_x.len(), 350);
    let device = Default::default();
    let trained = train::<B>(
        &run(
            &s,
            Samples {
                images: &train_x,
                labels: &train_y,
            },
            None,
            4,
        ),
        &device,
    )
    .expect("trains");
    assert_eq!(trained.history.len(), 2);
    let batcher = Batcher::with_stats(&s.preprocessings["p"], 64, 1, trained.train_stats);
    let probs = predict(&trained.nets, &batcher, &test_x, &device);
    let scores: Vec<f64> = probs.iter().map(|p| p[1] as f64).collect();
    let labels: Vec<bool> = test_y.iter().map(|y| *y == 1).collect();
    let test_auc = auc(&Scores::new(&scores, &labels))
        .get()
        .expect("both sources in test");
    assert!(test_auc > 0.9, "test AUC {test_auc}");
}

#[test]
fn training_is_deterministic_and_the_loss_falls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = checked(
        "study \"t\" { seed 9 }\ndataset d = synthetic {\n  size 64\n  signal 1\n  source a { images 48, covid 50%, marker \"R\" top_left }\n}\ncrop full = full\npreprocess p { resize 64 }\nmodel m = cnn(channels: [8, 16, 32])\ntrain quick { optimizer sgd(lr: 0.05, momentum: 0.9), epochs 6, batch 16 }\nsplit s = random { data d, fractions { train 100% } }\nexperiment e { model m, crop full, split s, preprocess p, train quick, evaluate [train] }\n",
        dir.path(),
    );
    let (x, y) = partition(
        &s,
        "d",
        "s",
        "train",
        "label",
        &["normal", "covid"],
        dir.path(),
    );
    let device = Default::default();
    let all = Samples {
        images: &x,
        labels: &y,
    };
    let a = train::<B>(&run(&s, all, Some(all), 1), &device).expect("trains");
    let b = train::<B>(&run(&s, all, Some(all), 1), &device).expect("trains");
    assert_eq!(a.history, b.history, "same seed, same run");
    let first = a.history.first().expect("epochs").loss;
    let last = a.history.last().expect("epochs").loss;
    assert!(
        last < first,
        "loss did not fall: {:?}",
        a.history.iter().map(|h| h.loss).collect::<Vec<_>>()
    );
    let c = train::<B>(
        &run(
            &s,
            Samples {
                images: &x,
                labels: &y,
            },
            None,
            2,
        ),
        &device,
    )
    .expect("trains");
    assert_ne!(
        a.history[0].loss, c.history[0].loss,
        "another seed starts elsewhere"
    );
}

/// Every float the network holds (parameters and batch-norm statistics), in visiting order. Parameter
/// ids are random per process and are not part of the weights.
fn weights(net: &study::model::Net<Flex>) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    struct Collect(Vec<f32>);
    impl ModuleVisitor<Flex> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<burn::prelude::Tensor<Flex, D>>) {
            self.0.extend(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .expect("floats"),
            );
        }
    }
    let mut c = Collect(Vec::new());
    net.visit(&mut c);
    c.0
}

#[test]
fn a_stopped_training_resumes_from_its_checkpoint_to_the_same_weights() {
    for optimizer in ["sgd(lr: 0.05, momentum: 0.9)", "adam(lr: 3e-3)"] {
        resumes_to_the_same_weights(optimizer);
    }
}

/// Four epochs in one go, and two then two more from the checkpoint, with `optimizer`.
fn resumes_to_the_same_weights(optimizer: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = checked(
        &format!(
            "study \"t\" {{ seed 5 }}\ndataset d = synthetic {{\n  size 32\n  signal 1\n  source a {{ images 40, covid 50% }}\n}}\ncrop full = full\npreprocess p {{ resize 32, augment {{ flip 50%, rotate 5 }} }}\nmodel m = cnn(channels: [4, 8])\ntrain quick {{ optimizer {optimizer}, schedule cosine, epochs 4, batch 8, select on validation auc }}\nsplit s = random {{ data d, fractions {{ train 80%, validation 20% }} }}\nexperiment e {{ model m, crop full, split s, preprocess p, train quick, evaluate [validation] }}\n"
        ),
        dir.path(),
    );
    let classes = ["normal", "covid"];
    let (x, y) = partition(&s, "d", "s", "train", "label", &classes, dir.path());
    let (vx, vy) = partition(&s, "d", "s", "validation", "label", &classes, dir.path());
    let small_run = || {
        let mut r = run(
            &s,
            Samples {
                images: &x,
                labels: &y,
            },
            Some(Samples {
                images: &vx,
                labels: &vy,
            }),
            11,
        );
        r.size = 32;
        r.net.architecture = Architecture::Cnn {
            channels: vec![4, 8],
            kernel: 3,
        };
        r
    };
    let device = Default::default();
    let whole = train::<B>(&small_run(), &device).expect("trains");
    let ckpt = dir.path().join("ckpt");
    let mut first = small_run();
    first.checkpoint = Some(&ckpt);
    first.epoch_budget = Some(2);
    match train::<B>(&first, &device) {
        Err(study::train::TrainError::Paused { epoch: 2 }) => {}
        other => panic!("expected a pause after epoch 2, got {:?}", other.err()),
    }
    assert!(ckpt.join("gen-000002/state.json").exists());
    first.epoch_budget = None;
    let resumed = train::<B>(&first, &device).expect("resumes");
    assert_eq!(
        resumed.history, whole.history,
        "the resumed run logs what the uninterrupted one did"
    );
    assert_eq!(resumed.selected_epoch, whole.selected_epoch);
    assert_eq!(
        weights(&resumed.nets[0]),
        weights(&whole.nets[0]),
        "bit-identical weights with {optimizer}"
    );
}

#[test]
fn imagenet_normalisation_uses_each_channels_statistics() {
    let dir = tempfile::tempdir().expect("temp");
    let s = checked(
        r#"study "n" { seed 1 }
dataset phantom = synthetic { size 16, source a { images 8, covid 50% } }
preprocess p { channels 3, resize 8, normalize imagenet }
"#,
        dir.path(),
    );
    let pre = &s.preprocessings["p"];
    // One 8×8 image of 8-bit values; each colour channel repeats it, normalised by that channel's stats.
    let image: Vec<u8> = (0..64u32).map(|k| (k * 4) as u8).collect();
    let x: Vec<f32> = Batcher::new(pre, 8, 3, std::slice::from_ref(&image))
        .batch::<Flex>(
            std::slice::from_ref(&image),
            &[0],
            None,
            &Default::default(),
        )
        .into_data()
        .to_vec()
        .expect("f32");
    let (mean, std) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
    for c in 0..3 {
        for (k, v) in image.iter().enumerate() {
            let want = ((*v as f64 / 255.0 - mean[c]) / std[c]) as f32;
            let got = x[c * 64 + k];
            assert!(
                (got - want).abs() < 1e-6,
                "channel {c}, pixel {k}: {got} vs {want}"
            );
        }
    }
}
