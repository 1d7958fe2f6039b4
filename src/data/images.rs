//! Decoding: PNG and JPEG (8 or 16 bit, gray, RGB or palette) and DICOM → one f32 gray plane in [0, 1].

use super::gray::{Gray, min_max};
use super::metadata::{self, Sex};
use super::{ImageSource, Place, Problem};
use crate::diagnostics::Code;
use std::path::Path;

/// The largest image file read (a DICOM series frame of 16 bits at 16k × 16k is 512 MB).
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

/// Decodes an image file (by content, not by extension) for dataset `dataset`, refusing one whose header
/// announces more than `max_pixels` pixels before decoding it.
pub fn decode_file(path: &Path, dataset: &str, max_pixels: u64) -> Result<Gray, Problem> {
    let bytes = crate::files::read_regular(path, MAX_IMAGE_BYTES).map_err(|e| {
        let code = match e {
            crate::files::ReadError::Io(_) => Code::DataMissing,
            _ => Code::FileUnreadable,
        };
        Problem::new(
            code,
            dataset,
            format!("cannot read image: {e}"),
            super::manifest::download_help(dataset),
        )
        .at(Place::File(path.to_path_buf()))
    })?;
    if is_dicom(&bytes) {
        return decode_dicom(path, dataset, max_pixels).map(|(g, _)| g);
    }
    let corrupt = |why: String| {
        Problem::new(
            Code::BadImage,
            dataset,
            format!("cannot decode image: {why}"),
            "re-download the file, or set `on_error skip` on the dataset",
        )
        .at(Place::File(path.to_path_buf()))
    };
    if bytes.is_empty() {
        return Err(corrupt("the file is empty".into()));
    }
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| corrupt(e.to_string()))
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| corrupt(e.to_string()))?;
    check_pixels(path, dataset, width as u64, height as u64, max_pixels)?;
    // The header passed; the decoder's own allocation limit is raised to what that image needs (at most
    // 8 bytes a pixel: 16-bit RGBA) so that it never refuses an image the dataset allows.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some((width as u64 * height as u64 * 8).max(64 << 20));
    let mut decoder = reader()?;
    decoder.limits(limits);
    let image = decoder.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            too_large(path, dataset, width as u64, height as u64, max_pixels)
        }
        e => corrupt(e.to_string()),
    })?;
    if image.width() == 0 || image.height() == 0 {
        return Err(corrupt("the image has no pixels".into()));
    }
    Ok(to_gray(image))
}

/// Gray in [0, 1]. 8- and 16-bit gray (the usual radiograph formats) take a direct path; colour and
/// palette images go through the image crate's luminance conversion.
fn to_gray(image: image::DynamicImage) -> Gray {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let data = match image {
        image::DynamicImage::ImageLuma8(buf) => {
            let table: Vec<f32> = (0..256).map(|v| v as f32 / 255.0).collect();
            buf.into_raw()
                .into_iter()
                .map(|v| table[v as usize])
                .collect()
        }
        image::DynamicImage::ImageLuma16(buf) => buf
            .into_raw()
            .into_iter()
            .map(|v| v as f32 / 65535.0)
            .collect(),
        other => other
            .to_luma32f()
            .into_raw()
            .into_iter()
            .map(|v| v.clamp(0.0, 1.0))
            .collect(),
    };
    Gray {
        width,
        height,
        data,
    }
}

/// Refuses an image of `width`×`height` above the dataset's pixel limit.
fn check_pixels(
    path: &Path,
    dataset: &str,
    width: u64,
    height: u64,
    max_pixels: u64,
) -> Result<(), Problem> {
    if width.saturating_mul(height) > max_pixels {
        return Err(too_large(path, dataset, width, height, max_pixels));
    }
    Ok(())
}

fn too_large(path: &Path, dataset: &str, width: u64, height: u64, max_pixels: u64) -> Problem {
    Problem::new(
        Code::ImageTooLarge,
        dataset,
        format!(
            "the image is {width}×{height} ({:.1} megapixels), above the limit of {:.1} megapixels; it was not decoded",
            (width * height) as f64 / 1e6,
            max_pixels as f64 / 1e6
        ),
        format!("raise the limit with `max_pixels {}` on dataset `{dataset}` if such images are expected, or set `on_error skip`", width * height),
    )
    .at(Place::File(path.to_path_buf()))
}

/// DICOM files carry `DICM` at byte 128.
pub fn is_dicom(bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM")
}

/// Header fields usable as metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DicomHeader {
    pub patient: Option<String>,
    pub age: Option<f64>,
    pub sex: Option<Sex>,
    pub view: Option<String>,
    pub photometric: String,
}

fn dicom_problem(path: &Path, dataset: &str, why: String) -> Problem {
    Problem::new(
        Code::BadDicom,
        dataset,
        format!("cannot use DICOM file: {why}"),
        "keep only image DICOM files, or set `on_error skip`",
    )
    .at(Place::File(path.to_path_buf()))
}

fn header_of(object: &dicom_object::DefaultDicomObject) -> DicomHeader {
    use dicom_dictionary_std::tags;
    let text = |tag| {
        object
            .element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    DicomHeader {
        patient: text(tags::PATIENT_ID),
        age: text(tags::PATIENT_AGE).and_then(|a| metadata::parse_age(&a).ok().flatten()),
        sex: text(tags::PATIENT_SEX).and_then(|s| metadata::parse_sex(&s)),
        view: text(tags::VIEW_POSITION).and_then(|v| metadata::normalize_view(&v)),
        photometric: text(tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
    }
}

/// Reads only the header of a DICOM file (it stops before the pixel data), for metadata.
pub fn read_dicom_header(path: &Path, dataset: &str) -> Result<DicomHeader, Problem> {
    let object = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| dicom_problem(path, dataset, e.to_string()))?;
    Ok(header_of(&object))
}

/// Reads a DICOM image: modality LUT (rescale slope and intercept), then the first VOI window when
/// present (min–max otherwise), then MONOCHROME1 inversion, so bone is bright in every output.
pub fn decode_dicom(
    path: &Path,
    dataset: &str,
    max_pixels: u64,
) -> Result<(Gray, DicomHeader), Problem> {
    use dicom_dictionary_std::tags;
    use dicom_pixeldata::PixelDecoder;
    let bad = |why: String| dicom_problem(path, dataset, why);
    let object = dicom_object::open_file(path).map_err(|e| bad(e.to_string()))?;
    let header = header_of(&object);
    let size = |tag| {
        object
            .element(tag)
            .ok()
            .and_then(|e| e.to_int::<u32>().ok())
            .unwrap_or(0) as u64
    };
    let frames = size(tags::NUMBER_OF_FRAMES).max(1);
    check_pixels(
        path,
        dataset,
        size(tags::COLUMNS),
        size(tags::ROWS).saturating_mul(frames),
        max_pixels,
    )?;
    let decoded = object.decode_pixel_data().map_err(|e| bad(e.to_string()))?;
    let (w, h) = (decoded.columns() as usize, decoded.rows() as usize);
    let values: Vec<f32> = decoded
        .to_vec_frame::<f32>(0)
        .map_err(|e| bad(e.to_string()))?;
    if w == 0 || h == 0 || values.len() < w * h * decoded.samples_per_pixel() as usize {
        return Err(bad(format!("pixel data does not fill {w}x{h}")));
    }
    let samples = decoded.samples_per_pixel() as usize;
    let gray: Vec<f32> = if samples == 1 {
        values[..w * h].to_vec()
    } else {
        values
            .chunks(samples)
            .take(w * h)
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .collect()
    };
    let window = decoded
        .window()
        .ok()
        .flatten()
        .and_then(|w| w.first().copied());
    let mut data = match window {
        Some(wl) if wl.width > 1.0 => apply_window(&gray, wl.center, wl.width),
        _ => min_max(&gray),
    };
    if header.photometric == "MONOCHROME1" {
        data.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    Ok((
        Gray {
            width: w,
            height: h,
            data,
        },
        header,
    ))
}

/// The linear VOI window of the DICOM standard (PS3.3 C.11.2.1.2.1), to [0, 1].
pub fn apply_window(values: &[f32], center: f64, width: f64) -> Vec<f32> {
    let (c, w) = (center - 0.5, width - 1.0);
    values
        .iter()
        .map(|x| {
            let x = *x as f64;
            if x <= c - w / 2.0 {
                0.0
            } else if x > c + w / 2.0 {
                1.0
            } else {
                (((x - c) / w) + 0.5) as f32
            }
        })
        .collect()
}

/// The declaration of synthetic dataset `name`, which images of `dataset` come from.
fn synthetic_spec<'s>(
    study: &'s crate::study::Study,
    name: &str,
    dataset: &str,
) -> Result<&'s crate::study::Synthetic, Problem> {
    match study.datasets.get(name).map(|d| &d.source) {
        Some(crate::study::DatasetSource::Synthetic(spec)) => Ok(spec),
        _ => Err(Problem::new(
            Code::DataMissing,
            dataset,
            format!("no synthetic dataset `{name}`"),
            "",
        )),
    }
}

/// Decodes an image or mask of any source.
pub fn load(
    source: &ImageSource,
    dataset: &str,
    study: &crate::study::Study,
    seed: u64,
) -> Result<Gray, Problem> {
    match source {
        ImageSource::File(path) => {
            let limit = study
                .datasets
                .get(dataset)
                .map_or(crate::study::DEFAULT_MAX_PIXELS, |d| d.pixel_limit());
            decode_file(path, dataset, limit)
        }
        ImageSource::Synthetic {
            dataset: name,
            source,
            index,
        } => {
            let spec = synthetic_spec(study, name, dataset)?;
            Ok(super::synthetic::render(spec, name, source, *index, seed).image)
        }
    }
}

/// Decodes a record's image and, when it has one, its lung mask, which must have the image's size.
pub fn load_record(
    record: &super::Record,
    study: &crate::study::Study,
    seed: u64,
) -> Result<(Gray, Option<Gray>), Problem> {
    if let ImageSource::Synthetic {
        dataset,
        source,
        index,
    } = &record.image
    {
        let spec = synthetic_spec(study, dataset, &record.dataset)?;
        let drawn = super::synthetic::render(spec, dataset, source, *index, seed);
        return Ok((drawn.image, Some(drawn.mask)));
    }
    let image = load(&record.image, &record.dataset, study, seed)?;
    let Some(mask_source) = &record.mask else {
        return Ok((image, None));
    };
    let mut mask = load(mask_source, &record.dataset, study, seed)?;
    if (mask.width, mask.height) != (image.width, image.height) {
        let path = match mask_source {
            ImageSource::File(p) => p.clone(),
            _ => Default::default(),
        };
        return Err(Problem::new(
            Code::MaskMismatch,
            &record.dataset,
            format!(
                "the mask is {}x{} but image `{}` is {}x{}",
                mask.width, mask.height, record.id, image.width, image.height
            ),
            "export masks at their image's size",
        )
        .at(Place::File(path)));
    }
    mask.data
        .iter_mut()
        .for_each(|v| *v = if *v > 0.5 { 1.0 } else { 0.0 });
    Ok((image, Some(mask)))
}
