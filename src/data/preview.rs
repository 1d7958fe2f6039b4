//! The synthetic preview: one row per source × label, a few images each, as one PNG.

use super::Table;
use super::synthetic::render;
use crate::study::Synthetic;
use std::path::{Path, PathBuf};

/// Images per row of the preview.
const PER_ROW: usize = 6;

/// Writes `<dir>/preview-<dataset>.png` and returns its path.
pub fn write(
    dir: &Path,
    dataset: &str,
    spec: &Synthetic,
    table: &Table,
    seed: u64,
) -> std::io::Result<PathBuf> {
    let size = spec.size as usize;
    let gap = 2;
    let mut rows: Vec<Vec<(String, u32)>> = Vec::new();
    for source in spec.sources.keys() {
        for class in &spec.classes {
            let picks: Vec<(String, u32)> = table
                .records
                .iter()
                .filter(|r| &r.source == source && &r.label == class)
                .take(PER_ROW)
                .filter_map(|r| match &r.image {
                    super::ImageSource::Synthetic { index, .. } => Some((source.clone(), *index)),
                    _ => None,
                })
                .collect();
            if !picks.is_empty() {
                rows.push(picks);
            }
        }
    }
    let (w, h) = (
        PER_ROW * (size + gap) + gap,
        rows.len() * (size + gap) + gap,
    );
    let mut canvas = image::GrayImage::from_pixel(w as u32, h.max(1) as u32, image::Luma([32]));
    for (r, picks) in rows.iter().enumerate() {
        for (c, (source, index)) in picks.iter().enumerate() {
            let img = render(spec, dataset, source, *index, seed).image.to_u8();
            for y in 0..size {
                for x in 0..size {
                    canvas.put_pixel(
                        (gap + c * (size + gap) + x) as u32,
                        (gap + r * (size + gap) + y) as u32,
                        image::Luma([img[y * size + x]]),
                    );
                }
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("preview-{dataset}.png"));
    let tmp = dir.join(format!(".preview-{dataset}.png.tmp"));
    canvas
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(std::io::Error::other)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
