//! Lung segmenters: a U-Net trained on masked images, or its weights loaded.

use crate::check::Checker;
use crate::check::values::Allow;
use crate::check::values::conflict;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{Decl, DeclKind};

impl Checker<'_> {
    pub(in crate::check) fn segmenter(&mut self, decl: &Decl) -> Option<Segmenter> {
        let (_, call) = self.variant(
            decl,
            &["unet"],
            "segmenter lungs = unet(depth: 4) { data lung_masks }",
        )?;
        let (mut depth, mut base) = (4, 16);
        if let Some(call) = call {
            let args = self.args(call, "`unet`", &["depth", "base"], 0);
            if let Some(v) = args.get("depth") {
                depth = self.count(v, "the U-Net depth", 1, 7)?;
            }
            if let Some(v) = args.get("base") {
                base = self.count(v, "the base channel count", 1, 256)?;
            }
        }
        let allowed = [
            "data",
            "train",
            "weights",
            "epochs",
            "batch",
            "lr",
            "holdout",
            "size",
            "threshold",
        ];
        let (owner, e) = self.decl_entries(decl, &allowed, Allow::default());
        let size = match e.get("size").and_then(|x| self.one(x)) {
            Some(v) => self.integer(v, "the segmenter input size", 16, 2048, true)? as u32,
            None => 256,
        };
        if size % (1 << depth) != 0 {
            let at = e.get("size").map_or(decl.name_span(), |s| s.span);
            self.error(
                Diagnostic::new(
                    Code::InputTooSmall,
                    format!(
                        "a U-Net of depth {depth} needs a size divisible by {}",
                        1 << depth
                    ),
                )
                .at(at, "size not divisible")
                .help(format!(
                    "use a multiple of {}, such as {}",
                    1 << depth,
                    (size / (1 << depth)).max(1) * (1 << depth)
                )),
            );
            return None;
        }
        let threshold = match e.get("threshold").and_then(|x| self.one(x)) {
            Some(v) => {
                let t = self.number_in(v, "the mask threshold", 0.0, 1.0)?;
                if t == 0.0 || t == 1.0 {
                    self.suspicious(
                        v.span(),
                        "a mask threshold of 0 or 1 makes every pixel lung, or none",
                        "use a threshold between 0 and 1, usually 0.5",
                    );
                }
                t
            }
            None => 0.5,
        };
        // `train on lung_masks` reads as prose; `data lung_masks` is the same.
        let training_data = match (e.get("data"), e.get("train")) {
            (Some(d), Some(t)) => {
                self.error(
                    conflict(
                        Code::DuplicateEntry,
                        "the training data is given twice",
                        t.span,
                        d.span,
                    )
                    .help("keep one of them"),
                );
                return None;
            }
            (d, t) => d.or(t),
        };
        let source = match (training_data, e.get("weights")) {
            (Some(d), None) => {
                let data_value = match d.values.as_slice() {
                    [on, v]
                        if d.key.name == "train"
                            && on.as_ident().is_some_and(|i| i.name == "on") =>
                    {
                        v
                    }
                    _ if d.key.name == "train" => {
                        self.error(
                            Diagnostic::new(Code::WrongType, "`train` reads `train on DATASET`")
                                .at(d.span, "expected `train on my_masks`")
                                .help("or write `data my_masks`"),
                        );
                        return None;
                    }
                    _ => self.one(d)?,
                };
                let data = self.reference_value(data_value, DeclKind::Dataset)?;
                if let Some(ds) = self.study.datasets.get(&data)
                    && ds.masks.is_none()
                {
                    self.error(
                        Diagnostic::new(
                            Code::IncompatibleChoice,
                            format!("dataset `{data}` has no lung masks to train on"),
                        )
                        .at(data_value.span(), "no masks")
                        .also(self.symbol_span(&data), "declared here")
                        .help("give the dataset `mask column \"...\"` or `masks \"folder\"`"),
                    );
                    return None;
                }
                let epochs = match e.get("epochs").and_then(|x| self.one(x)) {
                    Some(v) => self.count(v, "epochs", 1, 100_000)?,
                    None => 20,
                };
                let batch = match e.get("batch").and_then(|x| self.one(x)) {
                    Some(v) => self.count(v, "the batch size", 1, 4096)?,
                    None => 8,
                };
                let lr = match e.get("lr").and_then(|x| self.one(x)) {
                    Some(v) => self.positive(v, "the learning rate")?,
                    None => 1e-3,
                };
                let holdout = match e.get("holdout").and_then(|x| self.one(x)) {
                    Some(v) => {
                        let share = self.fraction(v, "the held-out share")?;
                        if share >= 1.0 {
                            self.out_of_range(
                                v.span(),
                                "a segmenter that holds out every image has none to train on"
                                    .into(),
                                "hold out a share below 100%, for example `holdout 20%`",
                            );
                            return None;
                        }
                        if share == 0.0 {
                            self.suspicious(
                                v.span(),
                                "with nothing held out, the segmenter's Dice and IoU are not measured",
                                "hold out a share, for example `holdout 20%`, so the masks' quality is reported",
                            );
                        }
                        share
                    }
                    None => 0.2,
                };
                SegmenterSource::Train {
                    data,
                    epochs,
                    batch,
                    lr,
                    holdout,
                }
            }
            (None, Some(w)) => {
                for key in ["epochs", "batch", "lr", "holdout"] {
                    if let Some(x) = e.get(key) {
                        self.error(
                            Diagnostic::new(
                                Code::IncompatibleChoice,
                                format!("`{key}` only applies to a segmenter trained here"),
                            )
                            .at(x.span, "ignored with `weights`")
                            .help("remove it, or train with `data` instead of `weights`"),
                        );
                    }
                }
                let v = self.one(w)?;
                SegmenterSource::Weights {
                    path: self.weights_path(v)?,
                }
            }
            (Some(d), Some(w)) => {
                self.error(
                    Diagnostic::new(
                        Code::IncompatibleChoice,
                        "a segmenter is either trained (`data`) or loaded (`weights`)",
                    )
                    .at(w.span, "weights")
                    .also(d.span, "training data")
                    .help("keep one of them"),
                );
                return None;
            }
            (None, None) => {
                self.missing(
                    e.span,
                    &owner,
                    "data",
                    "data lung_masks   (or: weights \"unet.safetensors\")",
                );
                return None;
            }
        };
        Some(Segmenter {
            origin: self.origin(decl.name_span()),
            depth,
            base_channels: base,
            size,
            threshold,
            source,
        })
    }
}
