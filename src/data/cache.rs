//! Prepared images: decoded, rescaled, cropped and resized once, stored as 8-bit arrays in a
//! content-addressed cache (key: the image's content hash and the transform's parameters), read back
//! through a memory map. A warm cache decodes nothing. Normalisation and augmentation happen later, per
//! batch, because they depend on the training partition and the epoch.

use super::gray::Gray;
use super::images::load_record;
use super::memo::{HashMemo, Learned};
use super::transform::{Cropped, crop, rescale_min_max, resize};
use super::{ImageSource, Problem, Record};
use crate::study::{Crop, Preprocess, Rescale, Study};
use indexmap::IndexMap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What preparing one record gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PreparedImage {
    /// `size`×`size` 8-bit pixels.
    Image(Vec<u8>),
    /// Dropped by a lung-box rejection rule.
    Rejected,
    /// The crop needs a lung mask and the record has none.
    NoMask,
}

/// Prepared images of a list of records, in the same order.
#[derive(Debug)]
pub struct Prepared {
    pub size: usize,
    pub outcomes: Vec<Result<PreparedImage, Problem>>,
    /// How many images had to be decoded (0 on a warm cache).
    pub decoded: usize,
}

/// Lung masks from a segmenter, by record id; `None` uses the records' own masks.
pub type MaskOverride<'a> = Option<&'a (dyn Fn(&Record) -> Option<Gray> + Sync)>;

/// One image through the pipeline: decode, rescale, crop (with its mask), resize, quantise.
pub fn prepare_one(
    record: &Record,
    study: &Study,
    seed: u64,
    crop_decl: &Crop,
    pre: &Preprocess,
    masks: MaskOverride,
) -> Result<PreparedImage, Problem> {
    let (mut image, own_mask) = load_record(record, study, seed)?;
    let mask = match masks {
        // Predicted masks come at the segmenter's size: brought to the image's, then binarised.
        Some(f) => f(record).map(|m| {
            if (m.width, m.height) == (image.width, image.height) {
                return m;
            }
            let mut r = resize(
                &m,
                image.width,
                image.height,
                crate::study::Interpolation::Bilinear,
            );
            r.data
                .iter_mut()
                .for_each(|v| *v = if *v > 0.5 { 1.0 } else { 0.0 });
            r
        }),
        None => own_mask,
    };
    if pre.rescale == Rescale::MinMax {
        rescale_min_max(&mut image);
    }
    let cropped = match crop(&image, mask.as_ref(), &crop_decl.op) {
        Cropped::Image(c) => c,
        Cropped::Rejected { .. } => return Ok(PreparedImage::Rejected),
        Cropped::NoMask => return Ok(PreparedImage::NoMask),
    };
    let size = pre.resize as usize;
    Ok(PreparedImage::Image(
        resize(&cropped, size, size, pre.interpolation).to_u8(),
    ))
}

/// The cache key of a record's content (its image file's bytes and its mask's, or the synthetic draw's
/// identity), with any newly computed file hashes.
fn content_key(
    record: &Record,
    spec_hashes: &std::collections::HashMap<String, String>,
    seed: u64,
    memo: &HashMemo,
) -> (Option<String>, Vec<Learned>) {
    let mut h = blake3::Hasher::new();
    let mut learned = Vec::new();
    let mut file = |h: &mut blake3::Hasher, p: &Path| -> Option<()> {
        let (hash, _, new) = memo.hash(p)?;
        h.update(hash.as_bytes());
        learned.extend(new);
        Some(())
    };
    match &record.image {
        ImageSource::File(p) => {
            if file(&mut h, p).is_none() {
                return (None, learned);
            }
        }
        ImageSource::Synthetic {
            dataset,
            source,
            index,
        } => {
            h.update(spec_hashes.get(dataset).map_or(&b""[..], |x| x.as_bytes()));
            h.update(source.as_bytes());
            h.update(&index.to_le_bytes());
            h.update(&seed.to_le_bytes());
        }
    }
    if let Some(ImageSource::File(m)) = &record.mask {
        h.update(b"mask");
        let _ = file(&mut h, m);
    }
    (Some(h.finalize().to_hex()[..32].to_string()), learned)
}

/// The cache key of a transform.
fn transform_key(crop_decl: &Crop, pre: &Preprocess, extra: &str) -> String {
    let v = serde_json::json!({
        "version": 1,
        "crop": crate::hash::canonical(&crop_decl.op),
        "resize": pre.resize,
        "interpolation": crate::hash::canonical(&pre.interpolation),
        "rescale": crate::hash::canonical(&pre.rescale),
        "masks": extra,
    });
    crate::hash::hash_hex(&v)[..24].to_string()
}

#[derive(Default, Serialize, Deserialize)]
struct Index {
    size: usize,
    /// Content key → offset in `data.u8` (`None` for rejected or unmasked images) and the BLAKE3 of the
    /// entry's pixels, checked on every read: pixels changed in the pack are prepared again, never used.
    entries: IndexMap<String, (Option<usize>, PreparedImage, String)>,
}

/// Prepares every record, through the cache in `cache_dir` when given. `masks_id` names where
/// overriding masks come from (a segmenter cell's id), so that they are part of the key.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    records: &[Record],
    study: &Study,
    seed: u64,
    crop_decl: &Crop,
    pre: &Preprocess,
    masks: MaskOverride,
    masks_id: &str,
    cache_dir: Option<&Path>,
) -> Prepared {
    let size = pre.resize as usize;
    let progress = progress_bar(records.len() as u64);
    let Some(cache_dir) = cache_dir else {
        let outcomes = records
            .par_iter()
            .map(|r| {
                let o = prepare_one(r, study, seed, crop_decl, pre, masks);
                progress.inc(1);
                o
            })
            .collect();
        progress.finish_and_clear();
        return Prepared {
            size,
            outcomes,
            decoded: records.len(),
        };
    };
    let dir = cache_dir.join(transform_key(crop_decl, pre, masks_id));
    let memo_path = memo_path(cache_dir);
    let mut memo = HashMemo::load(&memo_path);
    let spec_hashes: std::collections::HashMap<String, String> = study
        .datasets
        .iter()
        .map(|(n, d)| {
            (
                n.clone(),
                crate::hash::hash_hex(&crate::hash::canonical(&d.source)),
            )
        })
        .collect();
    let (keys, learned): (Vec<Option<String>>, Vec<Vec<_>>) = records
        .par_iter()
        .map(|r| content_key(r, &spec_hashes, seed, &memo))
        .unzip();
    memo.learn(learned.into_iter().flatten().collect(), &memo_path);
    let (index, map) = match read_pack(&dir) {
        Some((index, map)) if index.size == size => (index, map),
        _ => (
            Index {
                size,
                ..Index::default()
            },
            None,
        ),
    };
    let data: &[u8] = map.as_deref().unwrap_or(&[]);
    let cached = |key: &Option<String>| -> Option<PreparedImage> {
        let (offset, outcome, hash) = index.entries.get(key.as_ref()?)?;
        match (offset, outcome) {
            (Some(o), PreparedImage::Image(_)) => data
                .get(*o..o + size * size)
                .filter(|b| pixels_hash(b) == *hash)
                .map(|b| PreparedImage::Image(b.to_vec())),
            (None, other) => Some(other.clone()),
            _ => None,
        }
    };
    // Each record once: a cache hit, or prepared now (and then remembered as missing from the cache).
    let (outcomes, fresh_flags): (Vec<Result<PreparedImage, Problem>>, Vec<bool>) = records
        .par_iter()
        .zip(&keys)
        .map(|(r, k)| {
            let o = match cached(k) {
                Some(hit) => (Ok(hit), false),
                None => (prepare_one(r, study, seed, crop_decl, pre, masks), true),
            };
            progress.inc(1);
            o
        })
        .unzip();
    progress.finish_and_clear();
    let missing: Vec<usize> = (0..records.len()).filter(|i| fresh_flags[*i]).collect();
    let decoded = missing.len();
    // Failed images are never written: only successful outcomes enter the cache.
    let fresh: Vec<(&String, &PreparedImage)> = missing
        .iter()
        .filter_map(|i| Some((keys[*i].as_ref()?, outcomes[*i].as_ref().ok()?)))
        .collect();
    if !fresh.is_empty() {
        // A cache that cannot be written only costs speed; the prepared images are still returned.
        let _ = write_pack(&dir, size, &fresh);
    }
    Prepared {
        size,
        outcomes,
        decoded,
    }
}

/// The BLAKE3 of an entry's pixels (hex, 32 digits).
fn pixels_hash(pixels: &[u8]) -> String {
    blake3::hash(pixels).to_hex()[..32].to_string()
}

/// The largest pack index read (about 100 bytes an image).
const MAX_INDEX_BYTES: u64 = 1 << 30;

fn read_pack(dir: &Path) -> Option<(Index, Option<memmap2::Mmap>)> {
    let bytes = crate::files::read_regular(&dir.join("index.json"), MAX_INDEX_BYTES).ok()?;
    let index: Index = serde_json::from_slice(&bytes).ok()?;
    let file = std::fs::File::open(dir.join("data.u8")).ok()?;
    if file.metadata().ok()?.len() == 0 {
        // Nothing but rejected images: an empty file cannot be mapped.
        return Some((index, None));
    }
    // SAFETY: packs are only ever replaced by rename, never written in place, so the mapped bytes
    // cannot change while they are mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    Some((index, Some(map)))
}

/// Adds entries to a pack, through temporary files and renames; the index is renamed last, so a reader
/// never sees an index pointing past its data. Writers (threads or processes sharing the cache) take
/// the pack's lock and re-read it first, so no writer's entries are lost or pointed at another's bytes.
fn write_pack(dir: &Path, size: usize, fresh: &[(&String, &PreparedImage)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    lock.lock()?;
    let (mut index, mut data) = match read_pack(dir) {
        Some((index, map)) if index.size == size => (index, map.map_or(Vec::new(), |m| m.to_vec())),
        _ => (
            Index {
                size,
                ..Index::default()
            },
            Vec::new(),
        ),
    };
    for (key, outcome) in fresh {
        // An entry prepared again because its stored pixels failed their hash replaces the stored one.
        let offset = match outcome {
            PreparedImage::Image(px) => {
                let o = data.len();
                data.extend_from_slice(px);
                Some(o)
            }
            _ => None,
        };
        let (stored, hash) = match outcome {
            PreparedImage::Image(px) => (PreparedImage::Image(vec![]), pixels_hash(px)),
            other => ((*other).clone(), String::new()),
        };
        index.entries.insert((*key).clone(), (offset, stored, hash));
    }
    crate::files::replace(&dir.join("data.u8"), &data)?;
    let index = serde_json::to_vec(&index).map_err(std::io::Error::other)?;
    crate::files::replace(&dir.join("index.json"), &index)?;
    lock.unlock()
}

thread_local! {
    /// Where this thread's preparation progress goes: unset, a bar of its own; set, into the caller's
    /// bars (or nowhere).
    static BARS: std::cell::RefCell<Option<Option<indicatif::MultiProgress>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with image-preparation progress drawn among `bars` (hidden when `None`), so that it does not
/// fight a caller's own progress display.
pub fn with_progress<T>(bars: Option<indicatif::MultiProgress>, f: impl FnOnce() -> T) -> T {
    let previous = BARS.with(|b| b.replace(Some(bars)));
    let out = f();
    BARS.with(|b| *b.borrow_mut() = previous);
    out
}

fn progress_bar(n: u64) -> indicatif::ProgressBar {
    let bar = BARS.with(|b| match &*b.borrow() {
        None => indicatif::ProgressBar::new(n),
        Some(None) => indicatif::ProgressBar::hidden(),
        Some(Some(bars)) => bars.add(indicatif::ProgressBar::new(n)),
    });
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  preparing images {bar:30} {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Where prepared images of a study are cached: `<output>/cache`.
pub fn cache_dir(output: &Path) -> PathBuf {
    output.join("cache")
}

/// The file-hash memo kept beside the prepared images (shared by the image cache and input binding).
pub fn memo_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join("file-hashes.json")
}
