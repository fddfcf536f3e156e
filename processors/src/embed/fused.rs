//! The encoder's element-wise steps as single passes over candle's CPU
//! storage: a bias added and GELU applied together, a bias, a residual and
//! LayerNorm together, and the query/key/value split with its bias straight
//! into head-major order. Done as separate candle ops these were a pass
//! each, and candle's GELU calls libm's scalar `erff` per element, which
//! cost about as much as the matmuls on short posts (docs/performance.md,
//! embeddings).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape};

use super::bert::Result;

/// The contiguous f32 data of a custom op's input.
fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("fused op: a non-contiguous input".into()))?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// erf to within 6e-7 (absolute, a few f32 ulps) without branches, so that
/// it vectorises: x·P(x²)/Q(x²) on x clamped to [−4, 4] (beyond that erf is
/// ±1 in f32).
/// The rational approximation is the one Eigen and XLA use for f32.
#[inline(always)]
fn erf(x: f32) -> f32 {
    // Plain multiply-adds, not `mul_add`: without FMA in the target that is
    // a libm call, and this way every code path gives the same bits.
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = -2.726_142_3e-10f32;
    let p = p * x2 + 2.770_681_4e-8;
    let p = p * x2 + -2.101_024e-6;
    let p = p * x2 + -5.692_506_5e-5;
    let p = p * x2 + -7.349_906e-4;
    let p = p * x2 + -2.9546e-3;
    let p = p * x2 + -1.609_603_3e-2;
    let q = -1.456_607_2e-5f32;
    let q = q * x2 + -2.133_740_6e-4;
    let q = q * x2 + -1.682_827e-3;
    let q = q * x2 + -7.373_329e-3;
    let q = q * x2 + -1.426_474e-2;
    x * p / q
}

/// GELU in its exact (erf) form, as BERT and PyTorch's default define it.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn bias_gelu_rows(x: &[f32], bias: &[f32], out: &mut [f32]) {
    for (row, out) in x.chunks_exact(bias.len()).zip(out.chunks_exact_mut(bias.len())) {
        for ((o, &v), &b) in out.iter_mut().zip(row).zip(bias) {
            *o = gelu(v + b);
        }
    }
}

/// The same loop compiled for wider vectors, picked at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn bias_gelu_rows_avx512(x: &[f32], bias: &[f32], out: &mut [f32]) {
    bias_gelu_rows(x, bias, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bias_gelu_rows_avx2(x: &[f32], bias: &[f32], out: &mut [f32]) {
    bias_gelu_rows(x, bias, out)
}

/// GELU(x + bias) for rows of `bias.len()` values.
pub struct BiasGelu<'a> {
    pub bias: &'a [f32],
}

impl CustomOp1 for BiasGelu<'_> {
    fn name(&self) -> &'static str {
        "bias-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(storage, layout)?;
        let mut out = vec![0f32; x.len()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the function is compiled for.
            unsafe { bias_gelu_rows_avx512(x, self.bias, &mut out) }
        } else if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { bias_gelu_rows_avx2(x, self.bias, &mut out) }
        } else {
            bias_gelu_rows(x, self.bias, &mut out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        bias_gelu_rows(x, self.bias, &mut out);
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// LayerNorm(x + bias + residual) over rows of `bias.len()` values: the
/// end of both halves of a BERT layer. Mean and variance in two passes, as
/// PyTorch computes them (biased variance).
pub struct AddNorm<'a> {
    pub bias: &'a [f32],
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub eps: f32,
}

impl CustomOp2 for AddNorm<'_> {
    fn name(&self) -> &'static str {
        "add-norm"
    }

    fn cpu_fwd(&self, x: &CpuStorage, lx: &Layout, r: &CpuStorage, lr: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, residual) = (contiguous(x, lx)?, contiguous(r, lr)?);
        if x.len() != residual.len() {
            return Err(candle_core::Error::Msg("add-norm: input and residual differ in size".into()));
        }
        let n = self.bias.len();
        let mut out = vec![0f32; x.len()];
        for ((row, res), out) in x.chunks_exact(n).zip(residual.chunks_exact(n)).zip(out.chunks_exact_mut(n)) {
            for (((o, &v), &b), &r) in out.iter_mut().zip(row).zip(self.bias).zip(res) {
                *o = v + b + r;
            }
            let mean = out.iter().sum::<f32>() / n as f32;
            let variance = out.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
            let inverse = 1.0 / (variance + self.eps).sqrt();
            for ((o, &g), &b) in out.iter_mut().zip(self.gamma).zip(self.beta) {
                *o = (*o - mean) * inverse * g + b;
            }
        }
        Ok((CpuStorage::F32(out), lx.shape().clone()))
    }
}

/// The fused query/key/value projection's rows ([batch·len, 3·hidden]) plus
/// its bias, rearranged to [3, batch, heads, len, head_dim], so that each
/// of query, key and value is a contiguous [batch, heads, len, head_dim].
pub struct SplitHeads<'a> {
    pub bias: &'a [f32],
    pub batch: usize,
    pub len: usize,
    pub heads: usize,
}

impl CustomOp1 for SplitHeads<'_> {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous(storage, layout)?;
        let width = self.bias.len();
        let hidden = width / 3;
        let head_dim = hidden / self.heads;
        if x.len() != self.batch * self.len * width || hidden * 3 != width || head_dim * self.heads != hidden {
            return Err(candle_core::Error::Msg("split-heads: shapes do not match".into()));
        }
        let mut out = vec![0f32; x.len()];
        for (token, row) in x.chunks_exact(width).enumerate() {
            let (b, t) = (token / self.len, token % self.len);
            for (part, (values, bias)) in row.chunks_exact(hidden).zip(self.bias.chunks_exact(hidden)).enumerate() {
                for (h, (values, bias)) in values.chunks_exact(head_dim).zip(bias.chunks_exact(head_dim)).enumerate() {
                    let at = (((part * self.batch + b) * self.heads + h) * self.len + t) * head_dim;
                    for ((o, &v), &c) in out[at..at + head_dim].iter_mut().zip(values).zip(bias) {
                        *o = v + c;
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((3, self.batch, self.heads, self.len, head_dim))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_6e_7_of_libm_everywhere() {
        let mut worst = 0f32;
        for i in -600_000..=600_000 {
            let x = i as f32 * 1e-5;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        for x in [-1e30, -7.0, 7.0, 1e30, f32::MAX, f32::MIN] {
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 6e-7, "largest difference {worst}");
    }

    #[test]
    fn bias_gelu_gives_the_same_bits_on_every_code_path() {
        let x: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) / 300.0).collect();
        let bias: Vec<f32> = (0..64).map(|i| i as f32 / 100.0).collect();
        let mut plain = vec![0f32; x.len()];
        bias_gelu_rows(&x, &bias, &mut plain);
        let storage = CpuStorage::F32(x.clone());
        let (out, _) = BiasGelu { bias: &bias }.cpu_fwd(&storage, &Layout::contiguous((64, 64))).unwrap();
        assert_eq!(out.as_slice::<f32>().unwrap(), plain.as_slice(), "the path picked at run time");
        #[cfg(target_arch = "x86_64")]
        {
            type Rows = unsafe fn(&[f32], &[f32], &mut [f32]);
            let paths: [(&str, bool, Rows); 2] = [
                ("avx512f", std::arch::is_x86_feature_detected!("avx512f"), bias_gelu_rows_avx512),
                ("avx2", std::arch::is_x86_feature_detected!("avx2"), bias_gelu_rows_avx2),
            ];
            for (feature, _, rows) in paths.into_iter().filter(|(_, present, _)| *present) {
                let mut out = vec![0f32; x.len()];
                // SAFETY: the CPU has the feature (the filter above).
                unsafe { rows(&x, &bias, &mut out) };
                assert_eq!(out, plain, "the {feature} path");
            }
        }
        let exact = |v: f32| 0.5 * v * (1.0 + libm::erff(v * std::f32::consts::FRAC_1_SQRT_2));
        for (i, &y) in plain.iter().enumerate() {
            let want = exact(x[i] + bias[i % 64]);
            assert!((y - want).abs() <= 4e-6 * want.abs().max(1.0), "gelu({}) = {y}, not {want}", x[i] + bias[i % 64]);
        }
    }
}
