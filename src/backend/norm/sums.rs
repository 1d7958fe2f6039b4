//! The per-channel sums of batch-norm in f64: `[Σ v, Σ v²]` forward, `[Σ dy, Σ dy · x̂]` backward (with
//! ReLU's mask where a ReLU followed, recomputed from x: see [`Relu`]).
//!
//! Each sum runs in [`LANES`] independent lanes (value `i` goes to lane `i mod LANES`), so that an addition
//! need not wait for the one before, and the lanes are added in order at the end. `portable` states the
//! arithmetic; on x86-64 with AVX, `avx` computes the same operations in vector registers (LLVM leaves
//! the portable loops scalar: it does not vectorise the widening to f64) and gives the same bits.

/// Lanes of each running sum.
const LANES: usize = 8;

/// `[Σ v, Σ v²]` of one plane.
pub(super) fn sum_and_squares(values: &[f32]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the processor has AVX (checked above).
        return unsafe { avx::sum_and_squares(values) };
    }
    portable::sum_and_squares(values)
}

/// ReLU after batch-norm, for its backward step: the forward pass's affine map `(x − mean) · scale + shift`
/// (`scale = γ · inv_std`, `shift = β`), computed by the same f32 operations, so that it is positive exactly
/// where the output was, and the output need not be read.
#[derive(Clone, Copy, Debug)]
pub(super) struct Relu {
    pub scale: f32,
    pub shift: f32,
}

impl Relu {
    /// `dy` where the forward output at input `x` was positive, else zero.
    #[inline(always)]
    pub(super) fn pass(&self, dy: f32, x: f32, mean: f32) -> f32 {
        if (x - mean) * self.scale + self.shift > 0.0 {
            dy
        } else {
            0.0
        }
    }
}

/// `[Σ dy, Σ dy · x̂]` of one plane, with `x̂ = (x − mean) · inv_std` in f32 and `dy` through `relu` where
/// given; over the shorter of the two.
pub(super) fn gradient_sums(
    dy: &[f32],
    x: &[f32],
    mean: f32,
    inv_std: f32,
    relu: Option<Relu>,
) -> [f64; 2] {
    let n = dy.len().min(x.len());
    let (dy, x) = (&dy[..n], &x[..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the processor has AVX (checked above).
        return unsafe { avx::gradient_sums(dy, x, mean, inv_std, relu) };
    }
    portable::gradient_sums(dy, x, mean, inv_std, relu)
}

/// The lanes' sums added in lane order, with the values past the last whole block of lanes added to
/// lanes `0..` first (as if the block were continued).
fn finish(mut lanes: [[f64; LANES]; 2], tail: impl Iterator<Item = [f64; 2]>) -> [f64; 2] {
    for (l, [a, b]) in tail.enumerate() {
        lanes[0][l] += a;
        lanes[1][l] += b;
    }
    lanes.map(|sums| sums.iter().sum())
}

mod portable {
    use super::{LANES, Relu, finish};

    pub(super) fn sum_and_squares(values: &[f32]) -> [f64; 2] {
        let ([mut s, mut q], chunks) = ([[0f64; LANES]; 2], values.chunks_exact(LANES));
        let tail = chunks.remainder();
        for chunk in chunks {
            for l in 0..LANES {
                let v = chunk[l] as f64;
                s[l] += v;
                q[l] += v * v;
            }
        }
        finish(
            [s, q],
            tail.iter().map(|&v| [v as f64, v as f64 * v as f64]),
        )
    }

    pub(super) fn gradient_sums(
        dy: &[f32],
        x: &[f32],
        mean: f32,
        inv_std: f32,
        relu: Option<Relu>,
    ) -> [f64; 2] {
        let pass = |g: f32, v: f32| relu.map_or(g, |r| r.pass(g, v, mean));
        let whole = dy.len() - dy.len() % LANES;
        let [mut a, mut b] = [[0f64; LANES]; 2];
        for (g, v) in dy[..whole]
            .chunks_exact(LANES)
            .zip(x[..whole].chunks_exact(LANES))
        {
            for l in 0..LANES {
                let g64 = pass(g[l], v[l]) as f64;
                a[l] += g64;
                b[l] += g64 * ((v[l] - mean) * inv_std) as f64;
            }
        }
        let tail = dy[whole..].iter().zip(&x[whole..]);
        finish(
            [a, b],
            tail.map(|(&g, &v)| {
                let g = pass(g, v) as f64;
                [g, g * ((v - mean) * inv_std) as f64]
            }),
        )
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    //! Lanes 0–3 and 4–7 in two registers of four f64 each; every operation is the portable one, in the
    //! same order (a multiplication and an addition, never fused).
    use super::{LANES, Relu, finish};
    use std::arch::x86_64::*;

    /// Eight f32 as two registers of four f64.
    #[target_feature(enable = "avx")]
    fn widened(values: __m256) -> [__m256d; 2] {
        [
            _mm256_cvtps_pd(_mm256_castps256_ps128(values)),
            _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(values)),
        ]
    }

    /// Two registers as eight lanes.
    #[target_feature(enable = "avx")]
    fn stored([low, high]: [__m256d; 2]) -> [f64; LANES] {
        let mut lanes = [0f64; LANES];
        // SAFETY: `lanes` holds eight f64, four per store.
        unsafe {
            _mm256_storeu_pd(lanes.as_mut_ptr(), low);
            _mm256_storeu_pd(lanes.as_mut_ptr().add(4), high);
        }
        lanes
    }

    #[target_feature(enable = "avx")]
    pub(super) fn sum_and_squares(values: &[f32]) -> [f64; 2] {
        let chunks = values.chunks_exact(LANES);
        let tail = chunks.remainder();
        let [mut s, mut q] = [[_mm256_setzero_pd(); 2]; 2];
        for chunk in chunks {
            // SAFETY: `chunk` holds eight f32.
            let v = widened(unsafe { _mm256_loadu_ps(chunk.as_ptr()) });
            for h in 0..2 {
                s[h] = _mm256_add_pd(s[h], v[h]);
                q[h] = _mm256_add_pd(q[h], _mm256_mul_pd(v[h], v[h]));
            }
        }
        finish(
            [stored(s), stored(q)],
            tail.iter().map(|&v| [v as f64, v as f64 * v as f64]),
        )
    }

    #[target_feature(enable = "avx")]
    pub(super) fn gradient_sums(
        dy: &[f32],
        x: &[f32],
        mean: f32,
        inv_std: f32,
        relu: Option<Relu>,
    ) -> [f64; 2] {
        let whole = dy.len() - dy.len() % LANES;
        let (m, k) = (_mm256_set1_ps(mean), _mm256_set1_ps(inv_std));
        let [mut a, mut b] = [[_mm256_setzero_pd(); 2]; 2];
        for (g, v) in dy[..whole]
            .chunks_exact(LANES)
            .zip(x[..whole].chunks_exact(LANES))
        {
            // SAFETY: `g` and `v` hold eight f32 each.
            let (g, v) = unsafe { (_mm256_loadu_ps(g.as_ptr()), _mm256_loadu_ps(v.as_ptr())) };
            let centred = _mm256_sub_ps(v, m);
            let g = match relu {
                Some(r) => {
                    let (s, t) = (_mm256_set1_ps(r.scale), _mm256_set1_ps(r.shift));
                    let forward = _mm256_add_ps(_mm256_mul_ps(centred, s), t);
                    let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(forward, _mm256_setzero_ps());
                    _mm256_and_ps(g, positive)
                }
                None => g,
            };
            let (g, x_hat) = (widened(g), widened(_mm256_mul_ps(centred, k)));
            for h in 0..2 {
                a[h] = _mm256_add_pd(a[h], g[h]);
                b[h] = _mm256_add_pd(b[h], _mm256_mul_pd(g[h], x_hat[h]));
            }
        }
        let tail = dy[whole..].iter().zip(&x[whole..]);
        finish(
            [stored(a), stored(b)],
            tail.map(|(&g, &v)| {
                let g = relu.map_or(g, |r| r.pass(g, v, mean)) as f64;
                [g, g * ((v - mean) * inv_std) as f64]
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(max: usize) -> impl Strategy<Value = Vec<f32>> {
        prop::collection::vec(
            prop_oneof![-1e3f32..1e3, -1e-3f32..1e-3, Just(0.0), Just(-0.0)],
            0..max,
        )
    }

    proptest! {
        /// The dispatched sums (vectorised where the processor allows) are the portable ones, bit for bit,
        /// for every length (whole blocks of lanes and a tail).
        #[test]
        fn vector_sums_are_the_portable_sums(
            x in values(200),
            dy in values(200),
            mean in -10f32..10.0,
            inv_std in 1e-3f32..1e3,
            scale in -10f32..10.0,
            shift in -10f32..10.0,
        ) {
            let bits = |s: [f64; 2]| s.map(f64::to_bits);
            prop_assert_eq!(bits(sum_and_squares(&x)), bits(portable::sum_and_squares(&x)));
            let n = x.len().min(dy.len());
            for relu in [None, Some(Relu { scale, shift })] {
                prop_assert_eq!(
                    bits(gradient_sums(&dy, &x, mean, inv_std, relu)),
                    bits(portable::gradient_sums(&dy[..n], &x[..n], mean, inv_std, relu))
                );
            }
        }
    }
}
