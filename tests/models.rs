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
