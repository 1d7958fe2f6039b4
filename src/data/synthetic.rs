//! The synthetic generator: phantom frontal chest radiographs with lung masks, per-label pathology and
//! per-source acquisition effects a study can plant as confounders. Fully determined by the study seed,
//! the dataset, the source and the image index. The generative model is described in docs/synthetic.md.

use super::gray::Gray;
use super::metadata::Sex;
use super::{ImageSource, Record, Table};
use crate::study::{Corner, MarkerGlyph, Synthetic, SyntheticSource};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// One patient's draw: everything the image and the metadata depend on.
#[derive(Clone, Debug)]
pub struct Patient {
    pub label: String,
    pub age: f64,
    pub sex: Sex,
    pub ap: bool,
    /// Seed of the anatomy and pathology draw.
    pub seed: [u8; 32],
}

/// A rendered image and its lung mask (1 inside the lungs).
pub struct Rendered {
    pub image: Gray,
    pub mask: Gray,
}

fn rng_for(parts: &[&[u8]]) -> ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(b"study-synthetic");
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    ChaCha8Rng::from_seed(*h.finalize().as_bytes())
}

/// Labels of a source's images: exact counts from the shares (largest remainder), in a seeded order.
fn labels(spec: &SyntheticSource, dataset: &str, source: &str, seed: u64) -> Vec<String> {
    let n = spec.images as usize;
    let exact: Vec<(String, f64)> = spec
        .labels
        .iter()
        .map(|(c, s)| (c.clone(), s * n as f64))
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|(_, x)| x.floor() as usize).collect();
    let mut order: Vec<usize> = (0..exact.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b].1 - exact[*b].1.floor())
            .total_cmp(&(exact[*a].1 - exact[*a].1.floor()))
            .then(a.cmp(b))
    });
    let mut missing = n - counts.iter().sum::<usize>().min(n);
    for i in order {
        if missing == 0 {
            break;
        }
        counts[i] += 1;
        missing -= 1;
    }
    let mut out: Vec<String> = exact
        .iter()
        .zip(&counts)
        .flat_map(|((c, _), k)| std::iter::repeat_n(c.clone(), *k))
        .collect();
    let mut rng = rng_for(&[
        &seed.to_le_bytes(),
        dataset.as_bytes(),
        source.as_bytes(),
        b"labels",
    ]);
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    out
}

/// The patients of one source.
pub fn patients(spec: &SyntheticSource, dataset: &str, source: &str, seed: u64) -> Vec<Patient> {
    labels(spec, dataset, source, seed)
        .into_iter()
        .enumerate()
        .map(|(index, label)| patient(spec, dataset, source, seed, index, label))
        .collect()
}

/// Patient `index` of a source, given its label: everything else comes from the patient's own stream.
fn patient(
    spec: &SyntheticSource,
    dataset: &str,
    source: &str,
    seed: u64,
    index: usize,
    label: String,
) -> Patient {
    let mut rng = rng_for(&[
        &seed.to_le_bytes(),
        dataset.as_bytes(),
        source.as_bytes(),
        &(index as u64).to_le_bytes(),
    ]);
    let age = spec.age.0 + rng.random::<f64>() * (spec.age.1 - spec.age.0);
    let sex = if rng.random::<f64>() < spec.male {
        Sex::Male
    } else {
        Sex::Female
    };
    let ap = rng.random::<f64>() < spec.ap;
    let seed: [u8; 32] = rng.random();
    Patient {
        label,
        age: (age * 10.0).round() / 10.0,
        sex,
        ap,
        seed,
    }
}

/// The records of a synthetic dataset (metadata only; images are drawn on demand).
pub fn records(dataset: &str, spec: &Synthetic, seed: u64) -> Table {
    let mut table = Table::default();
    for (source, s) in &spec.sources {
        for (index, p) in patients(s, dataset, source, seed).into_iter().enumerate() {
            let image = ImageSource::Synthetic {
                dataset: dataset.into(),
                source: source.clone(),
                index: index as u32,
            };
            table.records.push(Record {
                id: format!("{source}/{index:05}"),
                dataset: dataset.into(),
                mask: Some(image.clone()),
                image,
                label: p.label,
                source: source.clone(),
                patient: Some(format!("{source}-{index:05}")),
                age: Some(p.age),
                sex: Some(p.sex),
                view: Some(if p.ap { "AP" } else { "PA" }.into()),
                extra: Default::default(),
            });
        }
    }
    table
}

/// Draws image `index` of `source`.
pub fn render(spec: &Synthetic, dataset: &str, source: &str, index: u32, seed: u64) -> Rendered {
    let s = &spec.sources[source];
    // Only this patient's stream is drawn; the label order is the one shared draw of the source.
    let label = labels(s, dataset, source, seed).swap_remove(index as usize);
    let patient = patient(s, dataset, source, seed, index as usize, label);
    draw(spec.size as usize, spec.signal, s, &patient)
}

/// A smooth blob: exp(-d²/2σ²).
fn bump(x: f64, y: f64, cx: f64, cy: f64, sx: f64, sy: f64) -> f64 {
    let dx = (x - cx) / sx;
    let dy = (y - cy) / sy;
    (-(dx * dx + dy * dy) / 2.0).exp()
}

fn inside(x: f64, y: f64, cx: f64, cy: f64, rx: f64, ry: f64) -> bool {
    let dx = (x - cx) / rx;
    let dy = (y - cy) / ry;
    dx * dx + dy * dy <= 1.0
}

/// The phantom: anatomy, pathology, then the source's acquisition effects.
pub fn draw(size: usize, signal: f64, s: &SyntheticSource, p: &Patient) -> Rendered {
    let mut rng = ChaCha8Rng::from_seed(p.seed);
    let jitter =
        |rng: &mut ChaCha8Rng, amount: f64| 1.0 + amount * (rng.random::<f64>() * 2.0 - 1.0);
    // Children have smaller thoraces; adults vary a little.
    let scale = (0.72 + 0.28 * (p.age.min(18.0) / 18.0)) * jitter(&mut rng, 0.04);
    let heart_mag = if p.ap { 1.22 } else { 1.0 } * jitter(&mut rng, 0.05);
    let lung_y = 0.44 + 0.02 * (rng.random::<f64>() - 0.5);
    let lungs = [(-0.17, 0.13, 0.27), (0.17, 0.12, 0.26)]
        .map(|(dx, rx, ry)| (0.5 + dx * scale, lung_y, rx * scale, ry * scale));
    let dome = lung_y + 0.2 * scale;
    let heart = (
        0.5 + 0.05 * scale,
        lung_y + 0.14 * scale,
        0.11 * scale * heart_mag,
        0.1 * scale,
    );
    // Anatomical variation: a few broad bumps.
    let texture: Vec<(f64, f64, f64, f64)> = (0..6)
        .map(|_| {
            (
                rng.random(),
                rng.random(),
                0.08 + 0.1 * rng.random::<f64>(),
                0.04 * (rng.random::<f64>() - 0.5),
            )
        })
        .collect();
    // Pathology, limited to the lungs.
    let mut lesions: Vec<(f64, f64, f64, f64)> = Vec::new();
    match p.label.as_str() {
        "covid" => {
            // Bilateral, peripheral, lower-zone ground-glass opacities.
            for (side, (cx, cy, rx, ry)) in lungs.iter().enumerate() {
                let outward = if side == 0 { -1.0 } else { 1.0 };
                for _ in 0..2 + rng.random_range(0..2) {
                    let x = cx + outward * rx * (0.35 + 0.4 * rng.random::<f64>());
                    let y = cy + ry * (0.1 + 0.6 * rng.random::<f64>());
                    lesions.push((x, y, 0.05 * scale * jitter(&mut rng, 0.3), 0.22 * signal));
                }
            }
        }
        "pneumonia" => {
            // One lobar consolidation.
            let (cx, cy, rx, ry) = lungs[rng.random_range(0..2)];
            let y = if rng.random::<bool>() {
                cy - 0.45 * ry
            } else {
                cy + 0.45 * ry
            };
            lesions.push((
                cx + 0.1 * rx * (rng.random::<f64>() - 0.5),
                y,
                0.075 * scale,
                0.38 * signal,
            ));
        }
        _ => {}
    }
    let mut image = Gray::new(size, size, 0.0);
    let mut mask = Gray::new(size, size, 0.0);
    for py in 0..size {
        for px in 0..size {
            // Horizontal stretch of the anatomy about the centre.
            let x = 0.5 + ((px as f64 + 0.5) / size as f64 - 0.5) / s.stretch;
            let y = (py as f64 + 0.5) / size as f64;
            let mut v = 0.04;
            let in_body = inside(x, y, 0.5, 0.55, 0.42 * scale, 0.5 * scale);
            if in_body {
                v = 0.45;
                let dx = (x - 0.5).abs();
                // Spine.
                if dx < 0.028 * scale {
                    v += 0.22;
                }
                // Clavicles.
                for side in [-1.0, 1.0] {
                    let t = ((x - 0.5) * side / (0.3 * scale)).clamp(0.0, 1.0);
                    let cy = 0.5 - 0.31 * scale + 0.02 * scale - 0.05 * scale * t;
                    if (x - 0.5) * side > 0.03
                        && (x - 0.5) * side < 0.3 * scale
                        && (y - cy).abs() < 0.012 * scale
                    {
                        v += 0.2;
                    }
                }
            }
            let mut in_lung = false;
            for (cx, cy, rx, ry) in lungs {
                if inside(x, y, cx, cy, rx, ry) && y < dome + 0.03 * ((x - cx) / rx).powi(2) * scale
                {
                    in_lung = true;
                }
            }
            let in_heart = inside(x, y, heart.0, heart.1, heart.2, heart.3);
            if in_lung && !in_heart {
                v = 0.16;
                // Ribs: curved bands across the lung fields.
                let dx = (x - 0.5).abs() / (0.3 * scale);
                for k in 0..9 {
                    let ry =
                        lung_y - 0.24 * scale + k as f64 * 0.055 * scale + 0.06 * scale * dx * dx;
                    if (y - ry).abs() < 0.009 * scale {
                        v += 0.08;
                    }
                }
                for (lx, ly, sigma, amp) in &lesions {
                    v += amp * bump(x, y, *lx, *ly, *sigma, *sigma);
                }
                mask.set(px, py, 1.0);
            } else if in_heart && in_body {
                v = 0.56;
            } else if in_body && y > dome {
                v = 0.5;
            }
            for (tx, ty, sigma, amp) in &texture {
                v += amp * bump(x, y, *tx, *ty, *sigma, *sigma);
            }
            image.set(px, py, v as f32);
        }
    }
    acquire(&mut image, s, &mut rng);
    Rendered { image, mask }
}

/// The source's acquisition chain: blur, gamma, contrast, offset, noise, polarity, collimation, marker.
fn acquire(image: &mut Gray, s: &SyntheticSource, rng: &mut ChaCha8Rng) {
    if s.blur > 0.0 {
        super::transform::gaussian_blur(image, s.blur as f32);
    }
    let noise = Normal::new(0.0, s.noise.max(1e-12)).expect("finite noise");
    for v in image.data.iter_mut() {
        let mut x = (*v as f64).clamp(0.0, 1.0).powf(s.gamma);
        x = (x - 0.5) * s.contrast + 0.5 + s.offset;
        if s.noise > 0.0 {
            x += noise.sample(rng);
        }
        if s.invert {
            x = 1.0 - x;
        }
        *v = x.clamp(0.0, 1.0) as f32;
    }
    let n = image.width;
    if s.border > 0.0 {
        let b = ((s.border * n as f64).round() as usize).min(n / 2);
        for y in 0..n {
            for x in 0..n {
                if x < b || y < b || x >= n - b || y >= n - b {
                    image.set(x, y, 0.95);
                }
            }
        }
    }
    if let Some(marker) = &s.marker {
        draw_marker(image, &marker.glyph, marker.corner);
    }
}

/// Burns a marker into a corner: bright glyphs about a tenth of the image high.
fn draw_marker(image: &mut Gray, glyph: &MarkerGlyph, corner: Corner) {
    let n = image.width;
    let cell = (n / 64).max(1);
    let (gw, gh) = (6 * cell, 7 * cell);
    let text: Vec<char> = match glyph {
        MarkerGlyph::Text(t) => t.chars().collect(),
        _ => vec!['#'],
    };
    let width = gw * text.len();
    let margin = (n / 16).max(1);
    let x0 = match corner {
        Corner::TopLeft | Corner::BottomLeft => margin,
        _ => n.saturating_sub(margin + width),
    };
    let y0 = match corner {
        Corner::TopLeft | Corner::TopRight => margin,
        _ => n.saturating_sub(margin + gh),
    };
    let mut plot = |x: usize, y: usize| {
        if x < n && y < image.height {
            image.set(x, y, 1.0);
        }
    };
    match glyph {
        MarkerGlyph::Text(_) => {
            for (i, c) in text.iter().enumerate() {
                let rows = font(*c);
                for (r, bits) in rows.iter().enumerate() {
                    for col in 0..5 {
                        if bits & (0b10000 >> col) != 0 {
                            for dy in 0..cell {
                                for dx in 0..cell {
                                    plot(x0 + i * gw + col * cell + dx, y0 + r * cell + dy);
                                }
                            }
                        }
                    }
                }
            }
        }
        shape => {
            let side = 7 * cell;
            for dy in 0..side {
                for dx in 0..side {
                    let (fx, fy) = (
                        (dx as f64 + 0.5) / side as f64,
                        (dy as f64 + 0.5) / side as f64,
                    );
                    let on = match shape {
                        MarkerGlyph::Square => true,
                        MarkerGlyph::Circle => (fx - 0.5).powi(2) + (fy - 0.5).powi(2) <= 0.25,
                        _ => (fx - 0.5).abs() <= fy / 2.0,
                    };
                    if on {
                        plot(x0 + dx, y0 + dy);
                    }
                }
            }
        }
    }
}

/// A 5×7 bitmap font for A–Z, 0–9 and a few signs; each row's five low bits are its pixels.
fn font(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ' ' => [0x00; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

#[cfg(test)]
mod tests {
    use super::font;
    use crate::study::MARKER_CHARACTERS;

    #[test]
    fn the_marker_font_draws_exactly_the_characters_the_checker_allows() {
        let boxed = font('\u{e9}');
        for c in MARKER_CHARACTERS.chars() {
            assert_ne!(font(c), boxed, "`{c}` is drawn as a box");
            assert_eq!(font(c.to_ascii_lowercase()), font(c));
        }
        assert_eq!(font('\u{2603}'), boxed);
    }
}
