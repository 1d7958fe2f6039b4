//! The prepared images of records for a training setup: its crop (with lung masks from a segmenter when
//! it asks for them) and preprocessing, through the shared cache.

use super::readers::{Masks, prepared};
use super::segmenter::segmenter_masks;
use crate::data::cache::PreparedImage;
use crate::data::{Problem, Record};
use crate::exec::{CellError, Ctx};
use crate::study::{CropOp, MaskSource, OnError, Region, Setup};

/// Why an image the crop's lung box rejects is left out: the study's choice, not a problem with the file.
pub const REJECTED_BY_CROP: &str = "lung box too small (rejected by the crop)";
/// Why an image without a lung mask is left out by a crop that needs one.
pub const NO_MASK: &str = "no lung mask for this image";

/// The images of some records for a setup: 8-bit pixels of the usable ones, and why the others are not.
pub struct Images {
    /// (record index, pixels)
    pub usable: Vec<(usize, Vec<u8>)>,
    pub excluded: Vec<(String, String)>,
}

pub fn images_of(
    ctx: &Ctx,
    setup: &Setup,
    records: &[Record],
    wanted: &[usize],
) -> Result<Images, CellError> {
    let study = ctx.study();
    let crop = &study.crops[&setup.crop];
    let pre = &study.preprocessings[&setup.preprocess];
    let chosen: Vec<Record> = wanted.iter().map(|i| records[*i].clone()).collect();
    let masks = crop_masks(ctx, &crop.op, &chosen)?;
    let outcomes = prepared(ctx, &chosen, crop, pre, masks.as_ref());
    let mut out = Images {
        usable: Vec::new(),
        excluded: Vec::new(),
    };
    let mut problems: Vec<Problem> = Vec::new();
    for (k, o) in outcomes.into_iter().enumerate() {
        let r = &chosen[k];
        match o {
            Ok(PreparedImage::Image(px)) => out.usable.push((wanted[k], px)),
            Ok(PreparedImage::Rejected) => {
                out.excluded.push((r.id.clone(), REJECTED_BY_CROP.into()))
            }
            Ok(PreparedImage::NoMask) => out.excluded.push((r.id.clone(), NO_MASK.into())),
            Err(p) => {
                let skip = study
                    .datasets
                    .get(&r.dataset)
                    .is_some_and(|d| d.on_error == OnError::Skip);
                if skip {
                    out.excluded.push((r.id.clone(), p.message.clone()));
                } else {
                    problems.push(p);
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(CellError::Data(problems));
    }
    Ok(out)
}

/// Lung masks from a segmenter when the crop asks for them.
fn crop_masks(ctx: &Ctx, op: &CropOp, records: &[Record]) -> Result<Option<Masks>, CellError> {
    let source = match op {
        CropOp::LungBox { masks, .. } => masks,
        CropOp::Occlude {
            region: Region::Lungs(m),
        }
        | CropOp::KeepOnly {
            region: Region::Lungs(m),
        } => m,
        _ => return Ok(None),
    };
    match source {
        MaskSource::Dataset => Ok(None),
        MaskSource::Segmenter(name) => segmenter_masks(ctx, name, records).map(Some),
    }
}

/// An image as a PNG file in base64, for a report to embed.
pub fn png_base64(img: &image::DynamicImage) -> String {
    use base64::Engine;
    let mut bytes = Vec::new();
    let _ = img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    );
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
