//! Image transforms: crops and occlusions, resizing (area when shrinking, bilinear otherwise),
//! normalisation and seeded augmentation.

use super::gray::{Gray, min_max};
use crate::study::{Augment, CropOp, Interpolation, Normalize, Rect, Region};
use rand::Rng;

/// What a crop made of an image.
#[derive(Debug)]
pub enum Cropped {
    Image(Gray),
    /// A lung-field box at most `reject_below` of the image: the image is dropped.
    Rejected {
        width_share: f64,
        height_share: f64,
    },
    /// The crop needs a lung mask and the image has none.
    NoMask,
}

/// Applies a crop or occlusion. `mask` (same size as the image, > 0.5 inside the lungs) is needed by the
/// lung-based operations only.
pub fn crop(image: &Gray, mask: Option<&Gray>, op: &CropOp) -> Cropped {
    let (w, h) = (image.width, image.height);
    match op {
        CropOp::Full => Cropped::Image(image.clone()),
        CropOp::Box { rect } => Cropped::Image(cut(image, pixel_rect(rect, w, h))),
        CropOp::Center { fraction } => {
            let (cw, ch) = (
                ((w as f64) * fraction).round().max(1.0) as usize,
                ((h as f64) * fraction).round().max(1.0) as usize,
            );
            Cropped::Image(cut(image, ((w - cw) / 2, (h - ch) / 2, cw, ch)))
        }
        CropOp::LungBox {
            margin,
            reject_below,
            ..
        } => {
            let Some(mask) = mask else {
                return Cropped::NoMask;
            };
            let Some((x0, y0, x1, y1)) = bounding_box(mask) else {
                return Cropped::Rejected {
                    width_share: 0.0,
                    height_share: 0.0,
                };
            };
            let (bw, bh) = ((x1 - x0 + 1) as f64, (y1 - y0 + 1) as f64);
            let (mx, my) = (
                (bw * margin).round() as isize,
                (bh * margin).round() as isize,
            );
            let xa = (x0 as isize - mx).max(0) as usize;
            let ya = (y0 as isize - my).max(0) as usize;
            let xb = ((x1 as isize + mx) as usize).min(w - 1);
            let yb = ((y1 as isize + my) as usize).min(h - 1);
            let (width_share, height_share) = (
                (xb - xa + 1) as f64 / w as f64,
                (yb - ya + 1) as f64 / h as f64,
            );
            if width_share <= *reject_below || height_share <= *reject_below {
                return Cropped::Rejected {
                    width_share,
                    height_share,
                };
            }
            Cropped::Image(cut(image, (xa, ya, xb - xa + 1, yb - ya + 1)))
        }
        CropOp::Occlude { region } | CropOp::KeepOnly { region } => {
            let keep_inside = matches!(op, CropOp::KeepOnly { .. });
            let inside: Box<dyn Fn(usize, usize) -> bool> = match region {
                Region::Box(rect) => {
                    let (x, y, rw, rh) = pixel_rect(rect, w, h);
                    Box::new(move |px, py| px >= x && px < x + rw && py >= y && py < y + rh)
                }
                Region::Lungs(_) => {
                    let Some(mask) = mask else {
                        return Cropped::NoMask;
                    };
                    Box::new(move |px, py| mask.get(px, py) > 0.5)
                }
            };
            let mut out = image.clone();
            for py in 0..h {
                for px in 0..w {
                    if inside(px, py) != keep_inside {
                        out.set(px, py, 0.0);
                    }
                }
            }
            Cropped::Image(out)
        }
        CropOp::BorderOnly { width } => {
            let (bx, by) = (
                ((w as f64) * width).round() as usize,
                ((h as f64) * width).round() as usize,
            );
            let mut out = image.clone();
            for py in by..h.saturating_sub(by) {
                for px in bx..w.saturating_sub(bx) {
                    out.set(px, py, 0.0);
                }
            }
            Cropped::Image(out)
        }
    }
}

/// A rectangle in pixels, clamped inside the image and at least one pixel.
fn pixel_rect(rect: &Rect, w: usize, h: usize) -> (usize, usize, usize, usize) {
    let (x, y, rw, rh) = match rect {
        Rect::Fraction { x, y, w: fw, h: fh } => (
            (x * w as f64).round() as usize,
            (y * h as f64).round() as usize,
            (fw * w as f64).round() as usize,
            (fh * h as f64).round() as usize,
        ),
        Rect::Pixels { x, y, w, h } => (*x as usize, *y as usize, *w as usize, *h as usize),
    };
    let x = x.min(w - 1);
    let y = y.min(h - 1);
    (x, y, rw.clamp(1, w - x), rh.clamp(1, h - y))
}

fn cut(image: &Gray, (x, y, w, h): (usize, usize, usize, usize)) -> Gray {
    let mut out = Gray::new(w, h, 0.0);
    for row in 0..h {
        let src = (y + row) * image.width + x;
        out.data[row * w..(row + 1) * w].copy_from_slice(&image.data[src..src + w]);
    }
    out
}

/// Inclusive bounding box `(x0, y0, x1, y1)` of mask pixels above 0.5.
pub fn bounding_box(mask: &Gray) -> Option<(usize, usize, usize, usize)> {
    let mut bb: Option<(usize, usize, usize, usize)> = None;
    for y in 0..mask.height {
        for x in 0..mask.width {
            if mask.get(x, y) > 0.5 {
                bb = Some(match bb {
                    None => (x, y, x, y),
                    Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                });
            }
        }
    }
    bb
}

/// Resizes to `w`×`h`. `Auto` averages areas when shrinking and interpolates bilinearly when enlarging.
pub fn resize(image: &Gray, w: usize, h: usize, interpolation: Interpolation) -> Gray {
    if image.width == w && image.height == h {
        return image.clone();
    }
    let shrinking = w <= image.width && h <= image.height;
    match interpolation {
        Interpolation::Area => area(image, w, h),
        Interpolation::Auto if shrinking => area(image, w, h),
        Interpolation::Nearest => nearest(image, w, h),
        _ => bilinear(image, w, h),
    }
}

/// Taps of a 1-D area filter: for each output position, the first input index and the weights of the
/// consecutive inputs it covers.
fn area_taps(from: usize, to: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = from as f64 / to as f64;
    (0..to)
        .map(|o| {
            let (a, b) = (o as f64 * scale, (o + 1) as f64 * scale);
            let first = a.floor() as usize;
            let mut weights = Vec::new();
            let mut i = first;
            while (i as f64) < b && i < from {
                weights.push(((b.min(i as f64 + 1.0) - a.max(i as f64)) / scale) as f32);
                i += 1;
            }
            (first, weights)
        })
        .collect()
}

/// Exact area averaging, separably: each output pixel is the mean of the input area it covers. Rows are
/// combined first (whole-row multiply-adds, which vectorise), then columns of the shorter image with a
/// fixed, zero-padded number of taps.
fn area(image: &Gray, w: usize, h: usize) -> Gray {
    let iw = image.width;
    let mut rows = vec![0.0f32; h * iw];
    for (y, (first, weights)) in area_taps(image.height, h).iter().enumerate() {
        let out = &mut rows[y * iw..(y + 1) * iw];
        for (k, weight) in weights.iter().enumerate() {
            let src = &image.data[(first + k) * iw..(first + k + 1) * iw];
            for (o, s) in out.iter_mut().zip(src) {
                *o += weight * s;
            }
        }
    }
    let taps = area_taps(iw, w);
    let width = taps
        .iter()
        .map(|(_, ws)| ws.len())
        .max()
        .unwrap_or(1)
        .min(iw);
    // Each output reads `width` inputs from `start`, shifted left at the right edge.
    let starts: Vec<usize> = taps
        .iter()
        .map(|(first, _)| (*first).min(iw - width))
        .collect();
    let mut weights = vec![0.0f32; w * width];
    for (x, (first, ws)) in taps.iter().enumerate() {
        for (k, wk) in ws.iter().enumerate() {
            weights[x * width + first + k - starts[x]] = *wk;
        }
    }
    let mut out = Gray::new(w, h, 0.0);
    for y in 0..h {
        let src = &rows[y * iw..(y + 1) * iw];
        let dst = &mut out.data[y * w..(y + 1) * w];
        for (x, d) in dst.iter_mut().enumerate() {
            let window = &src[starts[x]..starts[x] + width];
            *d = window
                .iter()
                .zip(&weights[x * width..(x + 1) * width])
                .map(|(s, k)| s * k)
                .sum();
        }
    }
    out
}

fn bilinear(image: &Gray, w: usize, h: usize) -> Gray {
    let mut out = Gray::new(w, h, 0.0);
    let (sx, sy) = (
        image.width as f32 / w as f32,
        image.height as f32 / h as f32,
    );
    for y in 0..h {
        for x in 0..w {
            out.data[y * w + x] = sample(
                image,
                (x as f32 + 0.5) * sx - 0.5,
                (y as f32 + 0.5) * sy - 0.5,
            );
        }
    }
    out
}

fn nearest(image: &Gray, w: usize, h: usize) -> Gray {
    let mut out = Gray::new(w, h, 0.0);
    for y in 0..h {
        for x in 0..w {
            let (ix, iy) = ((x * image.width) / w, (y * image.height) / h);
            out.data[y * w + x] = image.get(ix, iy);
        }
    }
    out
}

/// Bilinear sample at a continuous position; outside the image the edge value is used.
fn sample(image: &Gray, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (image.width - 1) as f32);
    let y = y.clamp(0.0, (image.height - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = image.get(x0, y0) * (1.0 - fx) + image.get(x1, y0) * fx;
    let bottom = image.get(x0, y1) * (1.0 - fx) + image.get(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Min–max rescaling to [0, 1] (the 8-bit conversion of raw intensities).
pub fn rescale_min_max(image: &mut Gray) {
    image.data = min_max(&image.data);
}

/// Mean and standard deviation of the pixels.
pub fn mean_std(data: &[f32]) -> (f64, f64) {
    let n = data.len().max(1) as f64;
    let mean = data.iter().map(|v| *v as f64).sum::<f64>() / n;
    let var = data.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Normalises in place; `train_stats` is the training partition's (mean, std) for `TrainStats`.
pub fn normalize(image: &mut Gray, how: &Normalize, train_stats: Option<(f64, f64)>) {
    let (mean, std) = match how {
        Normalize::None => return,
        Normalize::PerImage => mean_std(&image.data),
        Normalize::Fixed { mean, std } => (*mean, *std),
        Normalize::TrainStats => train_stats.unwrap_or((0.5, 0.25)),
        Normalize::Imagenet => crate::study::imagenet_stats(0, 1),
    };
    let std = if std > 1e-8 { std } else { 1.0 };
    for v in image.data.iter_mut() {
        *v = ((*v as f64 - mean) / std) as f32;
    }
}

/// Random flip, rotation, translation, brightness and contrast, from a per-epoch seeded generator.
pub fn augment(image: &Gray, spec: &Augment, rng: &mut impl Rng) -> Gray {
    let flip = rng.random::<f64>() < spec.flip;
    let angle = (rng.random::<f64>() * 2.0 - 1.0) * spec.rotate.to_radians();
    let (tx, ty) = (
        (rng.random::<f64>() * 2.0 - 1.0) * spec.translate,
        (rng.random::<f64>() * 2.0 - 1.0) * spec.translate,
    );
    let brightness = (rng.random::<f64>() * 2.0 - 1.0) * spec.brightness;
    let contrast = 1.0 + (rng.random::<f64>() * 2.0 - 1.0) * spec.contrast;
    let (w, h) = (image.width as f64, image.height as f64);
    let (cos, sin) = (angle.cos(), angle.sin());
    let mut out = Gray::new(image.width, image.height, 0.0);
    for y in 0..image.height {
        for x in 0..image.width {
            // Inverse mapping: output pixel → source position.
            let (mut dx, dy) = (
                x as f64 + 0.5 - w / 2.0 - tx * w,
                y as f64 + 0.5 - h / 2.0 - ty * h,
            );
            if flip {
                dx = -dx;
            }
            let sx = cos * dx + sin * dy + w / 2.0 - 0.5;
            let sy = -sin * dx + cos * dy + h / 2.0 - 0.5;
            let v = sample(image, sx as f32, sy as f32) as f64;
            out.data[y * image.width + x] = ((v - 0.5) * contrast + 0.5 + brightness) as f32;
        }
    }
    out
}

/// Separable gaussian blur with standard deviation `sigma` pixels.
pub fn gaussian_blur(image: &mut Gray, sigma: f32) {
    if sigma <= 0.0 {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let (w, h) = (image.width as isize, image.height as isize);
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0.0; src.len()];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let o = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x + o).clamp(0, w - 1), y)
                    } else {
                        (x, (y + o).clamp(0, h - 1))
                    };
                    acc += weight * src[(sy * w + sx) as usize];
                }
                out[(y * w + x) as usize] = acc;
            }
        }
        out
    };
    let horizontal = pass(&image.data, true);
    image.data = pass(&horizontal, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Gray {
        Gray {
            width: w,
            height: h,
            data: (0..w * h).map(|i| i as f32 / (w * h) as f32).collect(),
        }
    }

    #[test]
    fn area_resize_preserves_the_mean() {
        let img = ramp(17, 13);
        let small = resize(&img, 5, 4, Interpolation::Auto);
        let (m1, _) = mean_std(&img.data);
        let (m2, _) = mean_std(&small.data);
        assert!((m1 - m2).abs() < 1e-5, "{m1} vs {m2}");
        let halved = resize(
            &Gray {
                width: 4,
                height: 2,
                data: vec![0., 1., 2., 3., 4., 5., 6., 7.],
            },
            2,
            1,
            Interpolation::Area,
        );
        assert_eq!(halved.data, vec![2.5, 4.5]);
    }

    #[test]
    fn lung_box_widens_by_the_margin_and_rejects_small_boxes() {
        let img = ramp(100, 100);
        let mut mask = Gray::new(100, 100, 0.0);
        for y in 20..80 {
            for x in 30..70 {
                mask.set(x, y, 1.0);
            }
        }
        let op = CropOp::LungBox {
            masks: crate::study::MaskSource::Dataset,
            margin: 0.05,
            reject_below: 0.5,
        };
        match crop(&img, Some(&mask), &op) {
            Cropped::Rejected { width_share, .. } => assert!((width_share - 0.44).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        let op = CropOp::LungBox {
            masks: crate::study::MaskSource::Dataset,
            margin: 0.05,
            reject_below: 0.4,
        };
        match crop(&img, Some(&mask), &op) {
            Cropped::Image(c) => assert_eq!((c.width, c.height), (44, 66)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn occlusions_black_out_the_region_or_the_rest() {
        let img = Gray::new(10, 10, 1.0);
        let rect = Rect::Fraction {
            x: 0.2,
            y: 0.2,
            w: 0.5,
            h: 0.5,
        };
        let Cropped::Image(o) = crop(
            &img,
            None,
            &CropOp::Occlude {
                region: Region::Box(rect.clone()),
            },
        ) else {
            panic!()
        };
        assert_eq!(o.data.iter().filter(|v| **v == 0.0).count(), 25);
        let Cropped::Image(k) = crop(
            &img,
            None,
            &CropOp::KeepOnly {
                region: Region::Box(rect),
            },
        ) else {
            panic!()
        };
        assert_eq!(k.data.iter().filter(|v| **v == 0.0).count(), 75);
        assert!(matches!(
            crop(
                &img,
                None,
                &CropOp::Occlude {
                    region: Region::Lungs(crate::study::MaskSource::Dataset)
                }
            ),
            Cropped::NoMask
        ));
    }
}
