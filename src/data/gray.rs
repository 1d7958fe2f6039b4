//! The one image type of the data stage: a gray plane of f32 values in [0, 1].

/// A gray image, row-major, values in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Gray {
    pub fn new(width: usize, height: usize, fill: f32) -> Self {
        Gray {
            width,
            height,
            data: vec![fill; width * height],
        }
    }

    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    pub fn set(&mut self, x: usize, y: usize, v: f32) {
        self.data[y * self.width + x] = v;
    }

    /// 8-bit copy, for previews and caches.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data
            .iter()
            // Adding 0.5 and truncating rounds non-negative values, and vectorises unlike `round`.
            .map(|v| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
            .collect()
    }

    pub fn from_u8(width: usize, height: usize, bytes: &[u8]) -> Self {
        Gray {
            width,
            height,
            data: bytes.iter().map(|b| *b as f32 / 255.0).collect(),
        }
    }
}

/// Values scaled to [0, 1] by their minimum and maximum (all 0 when they are constant).
pub fn min_max(values: &[f32]) -> Vec<f32> {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let range = hi - lo;
    if !range.is_finite() || range <= 0.0 {
        return vec![0.0; values.len()];
    }
    values.iter().map(|v| (v - lo) / range).collect()
}
