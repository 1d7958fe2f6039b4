//! Preprocessings: channels, size, intensity handling, normalisation, augmentation.

use crate::check::Checker;
use crate::check::values::Allow;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl, Value};

impl Checker<'_> {
    pub(in crate::check) fn preprocess(&mut self, decl: &Decl) -> Option<Preprocess> {
        if let Some(v) = &decl.value {
            self.wrong_type(
                v,
                "a block (`preprocess p { resize 224 }`)",
                "a preprocessing",
            );
        }
        let allowed = [
            "channels",
            "resize",
            "interpolation",
            "rescale",
            "normalize",
            "augment",
        ];
        let (owner, e) = self.decl_entries(decl, &allowed, Allow::default());
        let channels = match e.get("channels").and_then(|c| self.one(c)) {
            Some(v) => {
                let c = self.count(v, "the channel count", 1, 3)?;
                if c == 2 {
                    self.out_of_range(
                        v.span(),
                        "images have 1 (gray) or 3 (RGB) channels".into(),
                        "use 1 or 3",
                    );
                    return None;
                }
                c
            }
            None => 1,
        };
        let resize = match e.get("resize").and_then(|r| self.one(r)) {
            Some(v) => self.integer(v, "the image size", 8, 4096, true)? as u32,
            None => {
                self.missing(e.span, &owner, "resize", "resize 224");
                return None;
            }
        };
        let interpolation = match e
            .get("interpolation")
            .and_then(|x| self.one(x))
            .map(|v| self.choice(v, "interpolation", &["auto", "area", "bilinear", "nearest"]))
        {
            Some(None) => return None,
            Some(Some(i)) => match i.as_str() {
                "area" => Interpolation::Area,
                "bilinear" => Interpolation::Bilinear,
                "nearest" => Interpolation::Nearest,
                _ => Interpolation::Auto,
            },
            None => Interpolation::Auto,
        };
        let rescale = match e
            .get("rescale")
            .and_then(|x| self.one(x))
            .map(|v| self.choice(v, "rescaling", &["none", "min_max"]))
        {
            Some(None) => return None,
            Some(Some(r)) if r == "min_max" => Rescale::MinMax,
            _ => Rescale::None,
        };
        let normalize = match e.get("normalize").and_then(|x| self.one(x)) {
            Some(Value::Call(c)) if c.name.name == "fixed" => {
                let args = self.args(c, "`fixed`", &["mean", "std"], 2);
                let mean = args.get("mean").and_then(|v| self.number(v, "the mean"));
                let std = args
                    .get("std")
                    .and_then(|v| self.positive(v, "the standard deviation"));
                match (mean, std) {
                    (Some(mean), Some(std)) => Normalize::Fixed { mean, std },
                    _ => {
                        if args.get("mean").is_none() || args.get("std").is_none() {
                            self.missing(
                                c.span,
                                "`fixed`",
                                "mean and std",
                                "fixed(mean: 0.5, std: 0.25)",
                            );
                        }
                        return None;
                    }
                }
            }
            Some(v) => match self
                .choice(
                    v,
                    "normalisation",
                    &["none", "per_image", "train_stats", "imagenet", "fixed"],
                )?
                .as_str()
            {
                "per_image" => Normalize::PerImage,
                "train_stats" => Normalize::TrainStats,
                "imagenet" => Normalize::Imagenet,
                "fixed" => {
                    self.missing(
                        v.span(),
                        "`fixed`",
                        "mean and std",
                        "fixed(mean: 0.5, std: 0.25)",
                    );
                    return None;
                }
                _ => Normalize::None,
            },
            None => Normalize::PerImage,
        };
        let augment = match e.get("augment") {
            Some(a) => Some(self.augment(a)?),
            None => None,
        };
        Some(Preprocess {
            origin: self.origin(decl.name_span()),
            channels,
            resize,
            interpolation,
            rescale,
            normalize,
            augment,
        })
    }

    pub(in crate::check) fn augment(&mut self, entry: &ast::Entry) -> Option<Augment> {
        if !entry.values.is_empty() || entry.block.is_none() {
            self.error(
                Diagnostic::new(Code::WrongType, "`augment` takes a block")
                    .at(entry.span, "expected `augment { ... }`")
                    .help("for example: augment { flip 50%, rotate 5, translate 5% }"),
            );
            return None;
        }
        let allowed = ["flip", "rotate", "translate", "brightness", "contrast"];
        let e = self.entries(
            entry.block.as_ref(),
            "augment",
            &allowed,
            Allow::default(),
            entry.span,
        );
        let mut a = Augment {
            flip: 0.0,
            rotate: 0.0,
            translate: 0.0,
            brightness: 0.0,
            contrast: 0.0,
        };
        let mut ok = true;
        if let Some(v) = e.get("flip").and_then(|x| self.one(x)) {
            a.flip = self.fraction(v, "the flip probability").unwrap_or_else(|| {
                ok = false;
                0.0
            });
        }
        if let Some(v) = e.get("rotate").and_then(|x| self.one(x)) {
            a.rotate = self
                .number_in(v, "the rotation (degrees)", 0.0, 45.0)
                .unwrap_or_else(|| {
                    ok = false;
                    0.0
                });
        }
        for (key, field) in [
            ("translate", &mut a.translate),
            ("brightness", &mut a.brightness),
            ("contrast", &mut a.contrast),
        ] {
            if let Some(v) = e.get(key).and_then(|x| self.one(x)) {
                match self.fraction(v, &format!("the {key} range")) {
                    Some(x) => *field = x,
                    None => ok = false,
                }
            }
        }
        ok.then_some(a)
    }

    // Segmenters
}
