//! all-MiniLM-L6-v2 as sentence-transformers runs it: BERT (6 layers,
//! hidden 384, 12 heads), mean pooling over the attention mask, L2
//! normalisation. The encoder is written out here over candle's tensors
//! rather than taken from candle-transformers so that it can fuse the
//! query, key and value projections into one matmul, fold the attention
//! scale into the query weights, skip the mask for buckets without padding
//! and run the element-wise steps as single passes (`fused.rs`;
//! docs/decisions/006-embeddings.md).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::fused::{AddNorm, BiasGelu, SplitHeads};

pub type Result<T> = std::result::Result<T, candle_core::Error>;

/// The fields of the model's `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

/// A projection; its bias is added by the fused step that follows it.
struct Linear {
    /// [in, out], so a row-major input multiplies it directly.
    weight: Tensor,
    bias: Vec<f32>,
}

impl Linear {
    /// From PyTorch's [out, in] weight.
    fn new(weight: Tensor, bias: Tensor) -> Result<Linear> {
        Ok(Linear { weight: weight.t()?.contiguous()?, bias: bias.to_vec1()? })
    }

    fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// LayerNorm(x + bias + residual), in one pass.
    fn add_norm(&self, x: &Tensor, bias: &[f32], residual: &Tensor) -> Result<Tensor> {
        x.apply_op2_no_bwd(residual, &AddNorm { bias, gamma: &self.gamma, beta: &self.beta, eps: self.eps })
    }
}

struct Layer {
    /// Query (pre-scaled by 1/√head_dim), key and value in one projection.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// The safetensors file's tensors, taken out by name as the encoder is built.
struct Weights {
    tensors: HashMap<String, Tensor>,
    eps: f32,
}

impl Weights {
    fn take(&mut self, name: &str) -> Result<Tensor> {
        self.tensors
            .remove(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("no tensor {name}")))?
            .to_dtype(DType::F32)
    }

    fn take_vec(&mut self, name: &str) -> Result<Vec<f32>> {
        self.take(name)?.to_vec1()
    }

    /// A projection's [out, in] weight and its bias, both multiplied by `scale`.
    fn linear(&mut self, prefix: &str, scale: f64) -> Result<(Tensor, Tensor)> {
        Ok(((self.take(&format!("{prefix}.weight"))? * scale)?, (self.take(&format!("{prefix}.bias"))? * scale)?))
    }

    fn dense(&mut self, prefix: &str) -> Result<Linear> {
        let (weight, bias) = self.linear(prefix, 1.0)?;
        Linear::new(weight, bias)
    }

    fn norm(&mut self, prefix: &str) -> Result<Norm> {
        Ok(Norm {
            gamma: self.take_vec(&format!("{prefix}.weight"))?,
            beta: self.take_vec(&format!("{prefix}.bias"))?,
            eps: self.eps,
        })
    }
}

pub struct MiniLm {
    word: Tensor,
    position: Tensor,
    /// Token type 0's embedding: every sentence is a single segment.
    segment: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    max_positions: usize,
}

impl MiniLm {
    pub fn load(dir: &Path) -> std::result::Result<MiniLm, String> {
        let config_path = dir.join("config.json");
        let config: BertConfig = std::fs::read(&config_path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        if config.hidden_act != "gelu" || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err(format!("{}: not a BERT encoder this stage runs", config_path.display()));
        }
        let weights_path = dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)
            .map_err(|e| format!("{}: {e}", weights_path.display()))?;
        Self::from_tensors(&config, tensors).map_err(|e| format!("{}: {e}", weights_path.display()))
    }

    fn from_tensors(config: &BertConfig, tensors: HashMap<String, Tensor>) -> Result<MiniLm> {
        let mut w = Weights { tensors, eps: config.layer_norm_eps as f32 };
        let embedding_norm = w.norm("embeddings.LayerNorm")?;
        let head_dim = config.hidden_size / config.num_attention_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (wq, bq) = w.linear(&format!("{p}.attention.self.query"), scale)?;
            let (wk, bk) = w.linear(&format!("{p}.attention.self.key"), 1.0)?;
            let (wv, bv) = w.linear(&format!("{p}.attention.self.value"), 1.0)?;
            layers.push(Layer {
                qkv: Linear::new(Tensor::cat(&[wq, wk, wv], 0)?, Tensor::cat(&[bq, bk, bv], 0)?)?,
                attention_out: w.dense(&format!("{p}.attention.output.dense"))?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"))?,
                intermediate: w.dense(&format!("{p}.intermediate.dense"))?,
                output: w.dense(&format!("{p}.output.dense"))?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        Ok(MiniLm {
            word: w.take("embeddings.word_embeddings.weight")?,
            position: w.take("embeddings.position_embeddings.weight")?,
            segment: w.take("embeddings.token_type_embeddings.weight")?.get(0)?.to_vec1()?,
            embedding_norm,
            layers,
            hidden: config.hidden_size,
            heads: config.num_attention_heads,
            max_positions: config.max_position_embeddings,
        })
    }

    pub fn dimensions(&self) -> usize {
        self.hidden
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Sentence vectors (mean-pooled, L2-normalised) of token sequences
    /// that each start with [CLS] and end with [SEP]. Sequences are padded
    /// to the longest one: callers group sequences of similar length.
    pub fn embed(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let batch = sequences.len();
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        if batch == 0 || longest == 0 {
            return Ok(vec![vec![0.0; self.hidden]; batch]);
        }
        let mut ids = vec![0u32; batch * longest];
        for (row, sequence) in ids.chunks_mut(longest).zip(sequences) {
            row[..sequence.len()].copy_from_slice(sequence);
        }
        let ids = Tensor::from_vec(ids, batch * longest, &Device::Cpu)?;
        let positions = self.position.narrow(0, 0, longest)?.repeat((batch, 1))?;
        // LayerNorm(word + segment + position), the segment as the "bias".
        let mut x = self.embedding_norm.add_norm(&self.word.index_select(&ids, 0)?, &self.segment, &positions)?;
        let mask = if sequences.iter().all(|s| s.len() == longest) {
            None
        } else {
            // Added to the attention scores: padding keys get no weight.
            let mut mask = vec![0f32; batch * longest];
            for (row, sequence) in mask.chunks_mut(longest).zip(sequences) {
                row[sequence.len()..].fill(f32::NEG_INFINITY);
            }
            Some(Tensor::from_vec(mask, (batch, 1, 1, longest), &Device::Cpu)?)
        };
        for layer in &self.layers {
            x = self.layer(layer, &x, batch, longest, mask.as_ref())?;
        }
        let hidden = x.to_vec2::<f32>()?;
        Ok(sequences
            .iter()
            .enumerate()
            .map(|(b, sequence)| {
                let mut pooled = vec![0f32; self.hidden];
                for token in &hidden[b * longest..b * longest + sequence.len()] {
                    pooled.iter_mut().zip(token).for_each(|(p, t)| *p += t);
                }
                let n = sequence.len() as f32;
                pooled.iter_mut().for_each(|p| *p /= n);
                let norm = pooled.iter().map(|p| p * p).sum::<f32>().sqrt().max(1e-12);
                pooled.iter_mut().for_each(|p| *p /= norm);
                pooled
            })
            .collect())
    }

    fn layer(&self, layer: &Layer, x: &Tensor, batch: usize, len: usize, mask: Option<&Tensor>) -> Result<Tensor> {
        let split = SplitHeads { bias: &layer.qkv.bias, batch, len, heads: self.heads };
        let qkv = layer.qkv.matmul(x)?.apply_op1_no_bwd(&split)?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let mut scores = q.matmul(&k.t()?)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = weights.matmul(&v)?.transpose(1, 2)?.reshape((batch * len, self.hidden))?;
        let projected = layer.attention_out.matmul(&context)?;
        let attended = layer.attention_norm.add_norm(&projected, &layer.attention_out.bias, x)?;
        let inner =
            layer.intermediate.matmul(&attended)?.apply_op1_no_bwd(&BiasGelu { bias: &layer.intermediate.bias })?;
        layer.output_norm.add_norm(&layer.output.matmul(&inner)?, &layer.output.bias, &attended)
    }
}
