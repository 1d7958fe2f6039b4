//! Crops and occlusions: full, boxes, lung boxes, regions kept or blacked out.

use crate::check::Checker;
use crate::check::values::{Entries, conflict};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Decl, Unit, Value};

impl Checker<'_> {
    pub(in crate::check) fn crop(&mut self, decl: &Decl) -> Option<Crop> {
        let options = [
            "full",
            "box",
            "center",
            "lung_box",
            "occlude",
            "keep_only",
            "border_only",
        ];
        let (variant, call) = self.variant(
            decl,
            &options,
            "crop lungs = lung_box(dataset) { margin 5% }",
        )?;
        let origin = self.origin(decl.name_span());
        let name = variant.name.as_str();
        let allowed: &[&str] = if name == "lung_box" {
            &["margin", "reject_below", "reject"]
        } else {
            &[]
        };
        let e = self.block_entries(decl, &format!("crop `{name}`"), allowed);
        let op = match (name, call) {
            ("full", None) => CropOp::Full,
            ("box", Some(c)) => CropOp::Box {
                rect: self.rect(c)?,
            },
            ("center", Some(c)) => {
                let args = self.args(c, "`center`", &["size"], 1);
                let v = args.get("size").or_else(|| {
                    self.missing(c.span, "`center`", "size", "center(80%)");
                    None
                })?;
                let fraction = self.fraction(v, "the centre box size")?;
                if fraction == 0.0 {
                    self.out_of_range(
                        v.span(),
                        "the centre box is empty".into(),
                        "use a size above 0%",
                    );
                    return None;
                }
                CropOp::Center { fraction }
            }
            ("lung_box", Some(c)) => {
                let args = self.args(c, "`lung_box`", &["masks"], 1);
                let masks = self.mask_source(args.get("masks"), c.span)?;
                let margin = match e.get("margin").and_then(|m| self.one(m)) {
                    Some(v) => self.fraction(v, "the margin")?,
                    None => 0.0,
                };
                let reject_below = self.reject_threshold(&e)?;
                CropOp::LungBox {
                    masks,
                    margin,
                    reject_below,
                }
            }
            ("occlude" | "keep_only", Some(c)) => {
                let args = self.args(c, &format!("`{name}`"), &["region"], 1);
                let region = self.region(args.get("region"), c.span)?;
                if name == "occlude" {
                    CropOp::Occlude { region }
                } else {
                    CropOp::KeepOnly { region }
                }
            }
            ("border_only", Some(c)) => {
                let args = self.args(c, "`border_only`", &["width"], 1);
                let v = args.get("width").or_else(|| {
                    self.missing(c.span, "`border_only`", "width", "border_only(10%)");
                    None
                })?;
                let width = self.fraction(v, "the border width")?;
                if width <= 0.0 || width >= 0.5 {
                    self.out_of_range(
                        v.span(),
                        "the border width must be above 0% and below 50%".into(),
                        "for example: border_only(10%)",
                    );
                    return None;
                }
                CropOp::BorderOnly { width }
            }
            ("full", Some(c)) => {
                self.error(
                    Diagnostic::new(Code::UnknownEntry, "`full` takes no arguments")
                        .at(c.span, "remove the parentheses"),
                );
                return None;
            }
            (_, None) => {
                let example = match name {
                    "box" => "box(10%, 10%, 80%, 80%)",
                    "center" => "center(80%)",
                    "lung_box" => "lung_box(dataset)",
                    "border_only" => "border_only(10%)",
                    _ => "occlude(lungs(dataset))",
                };
                self.missing(variant.span, &format!("`{name}`"), "arguments", example);
                return None;
            }
            _ => return None,
        };
        Some(Crop { origin, op })
    }

    /// `reject_below 50%`, or as prose `reject smaller than 50%`: boxes at most this share of the image
    /// height or width are dropped.
    pub(in crate::check) fn reject_threshold(&mut self, e: &Entries) -> Option<f64> {
        let value = match (e.get("reject_below"), e.get("reject")) {
            (None, None) => return Some(0.0),
            (Some(a), Some(b)) => {
                self.error(
                    conflict(
                        Code::DuplicateEntry,
                        "the rejection threshold is given twice",
                        b.span,
                        a.span,
                    )
                    .help("keep one of them"),
                );
                return None;
            }
            (Some(entry), None) => self.one(entry)?,
            (None, Some(entry)) => match entry.values.as_slice() {
                [smaller, than, v]
                    if smaller.as_ident().is_some_and(|i| i.name == "smaller")
                        && than.as_ident().is_some_and(|i| i.name == "than") =>
                {
                    v
                }
                _ => {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            "`reject` reads `reject smaller than SHARE`",
                        )
                        .at(entry.span, "expected `reject smaller than 50%`")
                        .help("or write `reject_below 50%`"),
                    );
                    return None;
                }
            },
        };
        self.fraction(value, "the rejection threshold")
    }

    /// `box(x, y, w, h)` in fractions (`%`) or pixels (`px`).
    pub(in crate::check) fn rect(&mut self, call: &ast::Call) -> Option<Rect> {
        let args = self.args(call, "`box`", &["x", "y", "w", "h"], 4);
        let mut vals = Vec::new();
        for name in ["x", "y", "w", "h"] {
            let Some(v) = args.get(name) else {
                self.missing(call.span, "`box`", name, "box(10%, 10%, 80%, 80%)");
                return None;
            };
            vals.push(v);
        }
        let pixels = vals
            .iter()
            .all(|v| matches!(v, Value::Number(n) if n.unit == Unit::Px));
        if pixels {
            let p: Vec<u32> = vals
                .iter()
                .map(|v| {
                    self.integer(v, "a box coordinate", 0, 65536, true)
                        .map(|x| x as u32)
                })
                .collect::<Option<_>>()?;
            if p[2] == 0 || p[3] == 0 {
                self.out_of_range(
                    call.span,
                    "the box is empty".into(),
                    "give it a width and height above 0",
                );
                return None;
            }
            return Some(Rect::Pixels {
                x: p[0],
                y: p[1],
                w: p[2],
                h: p[3],
            });
        }
        if vals
            .iter()
            .any(|v| matches!(v, Value::Number(n) if n.unit == Unit::Px))
        {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    "a box is given all in pixels or all in percentages",
                )
                .at(call.span, "mixed units")
                .help("write box(10%, 10%, 80%, 80%) or box(16px, 16px, 96px, 96px)"),
            );
            return None;
        }
        let f: Vec<f64> = vals
            .iter()
            .map(|v| self.fraction(v, "a box coordinate"))
            .collect::<Option<_>>()?;
        if f[2] == 0.0 || f[3] == 0.0 || f[0] + f[2] > 1.0 + 1e-9 || f[1] + f[3] > 1.0 + 1e-9 {
            self.out_of_range(
                call.span,
                "the box must be non-empty and lie inside the image".into(),
                "x + w and y + h must be at most 100%",
            );
            return None;
        }
        Some(Rect::Fraction {
            x: f[0],
            y: f[1],
            w: f[2],
            h: f[3],
        })
    }

    /// `dataset` (the dataset's own masks) or a segmenter's name.
    pub(in crate::check) fn mask_source(
        &mut self,
        v: Option<&Value>,
        at: Span,
    ) -> Option<MaskSource> {
        let Some(v) = v else {
            self.missing(
                at,
                "this crop",
                "masks",
                "lung_box(dataset) or lung_box(my_segmenter)",
            );
            return None;
        };
        self.mask_source_value(v)
    }

    /// `lungs(MASKS)`, `box(...)`, or a bare mask source (the lungs).
    pub(in crate::check) fn region(&mut self, v: Option<&Value>, at: Span) -> Option<Region> {
        match v {
            Some(Value::Call(c)) if c.name.name == "box" => self.rect(c).map(Region::Box),
            Some(Value::Call(c)) if c.name.name == "lungs" => {
                let args = self.args(c, "`lungs`", &["masks"], 1);
                self.mask_source(args.get("masks"), c.span)
                    .map(Region::Lungs)
            }
            Some(Value::Call(c)) => {
                self.error(
                    Diagnostic::new(
                        Code::UnknownConstructor,
                        format!("unknown region `{}`", c.name.name),
                    )
                    .at(c.name.span, "unknown region")
                    .help(crate::diagnostics::did_you_mean(
                        &c.name.name,
                        &["lungs", "box"],
                    )),
                );
                None
            }
            other => self.mask_source(other, at).map(Region::Lungs),
        }
    }

    // Preprocessing
}
