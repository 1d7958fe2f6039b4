//! Architectures: parameter counts of the reference models (torchvision, 1000-class head, 3 channels),
//! and forward shapes for 1- and 3-channel inputs and binary or multi-class heads.

use burn::backend::Flex;

use burn::prelude::*;
use study::model::{Net, NetConfig};
use study::study::Architecture;

fn config(architecture: Architecture, in_channels: usize, classes: usize) -> NetConfig {
    NetConfig {
        architecture,
        in_channels,
        classes,
        head: vec![],
        dropout: 0.0,
    }
}

#[test]
fn parameter_counts_match_the_reference_architectures() {
    // Networks drawn from burn's shared generator take turns with the seeded U-Net below.
    let _rng = study::train::hold_backend_rng();
    let device = Default::default();
    let cases = [
        (Architecture::Resnet { depth: 18 }, 11_689_512),
        (Architecture::Resnet { depth: 34 }, 21_797_672),
        (Architecture::Resnet { depth: 50 }, 25_557_032),
        (Architecture::Densenet { depth: 121 }, 7_978_856),
        (Architecture::Vgg { depth: 11 }, 132_863_336),
        (Architecture::Vgg { depth: 16 }, 138_357_544),
    ];
    for (architecture, expected) in cases {
        let name = architecture.short_name();
        let net: Net<Flex> = Net::new(&config(architecture, 3, 1000), &device);
        assert_eq!(study::model::trainable_parameters(&net), expected, "{name}");
    }
}

#[test]
fn forward_shapes_for_gray_and_rgb_inputs() {
    // Networks drawn from burn's shared generator take turns with the seeded U-Net below.
    let _rng = study::train::hold_backend_rng();
    let device = Default::default();
    for (architecture, channels, classes, size) in [
        (
            Architecture::Cnn {
                channels: vec![4, 8],
                kernel: 3,
            },
            1,
            2,
            32,
        ),
        (Architecture::Resnet { depth: 18 }, 1, 1, 32),
        (Architecture::Resnet { depth: 50 }, 3, 3, 32),
        (Architecture::Densenet { depth: 121 }, 3, 2, 32),
    ] {
        let name = architecture.short_name();
        let mut cfg = config(architecture, channels, classes);
        cfg.head = vec![16];
        let net: Net<Flex> = Net::new(&cfg, &device);
        let x = Tensor::<Flex, 4>::zeros([2, channels, size, size], &device);
        assert_eq!(net.forward(x).dims(), [2, classes], "{name}");
    }
}

#[test]
fn the_unet_segments_synthetic_lungs_better_after_training() {
    use burn::backend::Autodiff;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use study::model::unet::{UNet, dice_bce, dice_iou};
    type A = Autodiff<study::backend::Cpu>;
    let device = Default::default();
    let text = "study \"u\" { seed 2 }\ndataset d = synthetic { size 32, source a { images 8, covid 50% } }\n";
    let loaded = study::load_bytes("u.study", text.as_bytes(), None);
    let s = loaded.study.expect("valid");
    let ctx = study::data::DataContext {
        root: ".".into(),
        seed: 2,
    };
    let table = study::data::load_dataset(&s, "d", &ctx).expect("synthetic");
    let (mut xs, mut ms) = (Vec::new(), Vec::new());
    for r in &table.records {
        let (img, mask) = study::data::images::load_record(r, &s, 2).expect("renders");
        xs.extend(img.data);
        ms.extend(mask.expect("mask").data);
    }
    let n = table.records.len();
    let x = Tensor::<A, 4>::from_data(TensorData::new(xs, [n, 1, 32, 32]), &device);
    let m = Tensor::<A, 4>::from_data(TensorData::new(ms, [n, 1, 32, 32]), &device);
    let rng = study::train::hold_backend_rng();
    A::seed(&device, 2);
    let mut net: UNet<A> = UNet::new(1, 2, 4, &device);
    drop(rng);
    assert_eq!(net.forward(x.clone()).dims(), [n, 1, 32, 32]);
    let mut optim = AdamConfig::new().init();
    let before = dice_iou(net.forward(x.clone()).inner(), m.clone().inner(), 0.5);
    let mut losses = Vec::new();
    for _ in 0..40 {
        let loss = dice_bce(net.forward(x.clone()), m.clone());
        losses.push(loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(3e-3, net, grads);
    }
    let after = dice_iou(net.forward(x.clone()).inner(), m.clone().inner(), 0.5);
    assert!(
        losses[39] < losses[0],
        "loss {} -> {}",
        losses[0],
        losses[39]
    );
    assert!(
        after.0 > before.0 && after.0 > 0.6,
        "Dice {} -> {}",
        before.0,
        after.0
    );
    assert_eq!(
        dice_iou(m.clone().inner() * 100.0 - 50.0, m.inner(), 0.5),
        (1.0, 1.0)
    );
}
