//! multilingual-e5-small from its 4-bit "E5S1" file, on candle: the Q4_0 matrices become candle
//! quantised tensors (matrix products in 4-bit x 8-bit, as the reference engine does), the rest is
//! the XLM-R/BERT encoder with mean pooling. Inputs carry the model's "query: " / "passage: "
//! prefixes; texts longer than the 512 positions are embedded in windows and averaged by length.

pub mod file;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Module, Tensor};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::{Embedder, Role};
use file::{DType, E5File};
pub use tokenizer::Tokenizer;

/// Catalog name.
const MODEL: &str = "e5-small";
/// File inside the models directory.
pub const FILE: &str = "e5-small/e5-small-q4.bin";

struct Linear {
    weight: QMatMul,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.weight.forward(xs)?.broadcast_add(&self.bias)
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    attn_ln: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_ln: LayerNorm,
}

/// The loaded model.
pub struct E5 {
    tokenizer: Tokenizer,
    word: QTensor,
    positions: Tensor,
    token_type: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    max_positions: usize,
    key: String,
    device: Device,
}

impl std::fmt::Debug for E5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("E5").field("layers", &self.layers.len()).field("key", &self.key).finish()
    }
}

fn f32_tensor(bytes: &[u8], shape: &[usize], device: &Device) -> candle_core::Result<Tensor> {
    let values: Vec<f32> =
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Tensor::from_vec(values, shape, device)
}

fn q4_tensor(bytes: &[u8], rows: usize, cols: usize, device: &Device) -> candle_core::Result<QTensor> {
    // candle reinterprets the bytes as blocks (2-byte aligned); a fresh allocation always is.
    let owned;
    let bytes = if (bytes.as_ptr() as usize).is_multiple_of(2) {
        bytes
    } else {
        owned = bytes.to_vec();
        &owned[..]
    };
    qtensor_from_ggml(GgmlDType::Q4_0, bytes, vec![rows, cols], device)
}

impl E5 {
    /// Loads the model from the models directory.
    pub fn load_from_models_dir(models_dir: &Path) -> Result<Self> {
        Self::load(&models_dir.join(FILE))
    }

    /// Loads the model file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Missing { path: path.to_owned(), model: MODEL });
        }
        let started = Instant::now();
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let corrupt = |detail: String| Error::Corrupt {
            path: PathBuf::from(path),
            format: "E5S1",
            model: MODEL,
            detail,
        };
        let file = E5File::parse(&bytes).map_err(corrupt)?;
        let model = Self::from_parts(&bytes, file).map_err(|e| corrupt(e.to_string()))?;
        tracing::info!(ms = started.elapsed().as_millis() as u64, "e5-small loaded");
        Ok(model)
    }

    fn from_parts(bytes: &[u8], file: E5File) -> candle_core::Result<Self> {
        let device = Device::Cpu;
        let h = file.hparams;
        let (hd, ff) = (h.hidden, h.ffn);
        let get = |name: &str, dtype: DType, n: usize| -> candle_core::Result<&[u8]> {
            let t = file.tensor(name, dtype, n).map_err(candle_core::Error::msg)?;
            Ok(&bytes[t.bytes.clone()])
        };
        let vec = |name: &str, n: usize| f32_tensor(get(name, DType::F32, n)?, &[n], &device);
        let linear = |prefix: &str, rows: usize, cols: usize| -> candle_core::Result<Linear> {
            let w = q4_tensor(get(&format!("{prefix}.w"), DType::Q4_0, rows * cols)?, rows, cols, &device)?;
            Ok(Linear { weight: QMatMul::from_qtensor(w)?, bias: vec(&format!("{prefix}.b"), rows)? })
        };
        let norm = |prefix: &str| -> candle_core::Result<LayerNorm> {
            Ok(LayerNorm {
                weight: vec(&format!("{prefix}.w"), hd)?,
                bias: vec(&format!("{prefix}.b"), hd)?,
                eps: h.eps,
            })
        };
        let word = q4_tensor(get("emb.word", DType::Q4_0, h.vocab * hd)?, h.vocab, hd, &device)?;
        let positions =
            f32_tensor(get("emb.pos", DType::F32, h.max_positions * hd)?, &[h.max_positions, hd], &device)?;
        let token_type = f32_tensor(&get("emb.type", DType::F32, 2 * hd)?[..hd * 4], &[hd], &device)?;
        let emb_ln = norm("emb.ln")?;
        let mut layers = Vec::with_capacity(h.layers);
        for l in 0..h.layers {
            layers.push(Layer {
                q: linear(&format!("l{l}.q"), hd, hd)?,
                k: linear(&format!("l{l}.k"), hd, hd)?,
                v: linear(&format!("l{l}.v"), hd, hd)?,
                out: linear(&format!("l{l}.ao"), hd, hd)?,
                attn_ln: norm(&format!("l{l}.aln"))?,
                ffn_in: linear(&format!("l{l}.fi"), ff, hd)?,
                ffn_out: linear(&format!("l{l}.fo"), hd, ff)?,
                ffn_ln: norm(&format!("l{l}.oln"))?,
            });
        }
        let vocab_rows = h.vocab;
        if file.vocab.pieces.len() > vocab_rows {
            candle_core::bail!("{} pieces but only {vocab_rows} embedding rows", file.vocab.pieces.len());
        }
        let key = format!("e5-small-q4:{:x}", Sha256::digest(bytes));
        Ok(Self {
            tokenizer: Tokenizer::new(file.vocab),
            word,
            positions,
            token_type,
            emb_ln,
            layers,
            heads: h.heads,
            max_positions: h.max_positions,
            key,
            device,
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Mean of the last hidden states over one window `<s> ids </s>` (not normalised).
    fn window_mean(&self, content: &[u32]) -> candle_core::Result<Tensor> {
        self.batch_means(&[content.to_vec()])?.squeeze(0)
    }

    /// Means of the last hidden states of several windows at once, padded to the longest and
    /// masked: `[n, hidden]`.
    fn batch_means(&self, contents: &[Vec<u32>]) -> candle_core::Result<Tensor> {
        let n = contents.len();
        let t = contents.iter().map(Vec::len).max().unwrap_or(0) + 2;
        let mut ids = Vec::with_capacity(n * t);
        let mut mask = Vec::with_capacity(n * t);
        for c in contents {
            ids.push(self.tokenizer.bos);
            ids.extend_from_slice(c);
            ids.push(self.tokenizer.eos);
            mask.extend(std::iter::repeat_n(1f32, c.len() + 2));
            ids.extend(std::iter::repeat_n(self.tokenizer.eos, t - c.len() - 2));
            mask.extend(std::iter::repeat_n(0f32, t - c.len() - 2));
        }
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, t), &self.device)?;
        let x = self.word.embedding(&ids)?.reshape((n, t, ()))?;
        let x = x.broadcast_add(&self.positions.narrow(0, 0, t)?)?.broadcast_add(&self.token_type)?;
        let mut x = self.emb_ln.forward(&x)?;
        let hidden = x.dim(2)?;
        let head_dim = hidden / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        // 0 for real keys, a large negative for padding: [n, 1, 1, t].
        let bias = ((mask.clone() - 1.0)? * 1e9)?.reshape((n, 1, 1, t))?;
        for layer in &self.layers {
            let split = |y: Tensor| -> candle_core::Result<Tensor> {
                y.reshape((n, t, self.heads, head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = split(layer.q.forward(&x)?)?;
            let k = split(layer.k.forward(&x)?)?;
            let v = split(layer.v.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((n, t, hidden))?;
            let attn = layer.out.forward(&ctx)?;
            x = layer.attn_ln.forward(&(x + attn)?)?;
            let mid = layer.ffn_in.forward(&x)?.gelu_erf()?;
            let out = layer.ffn_out.forward(&mid)?;
            x = layer.ffn_ln.forward(&(x + out)?)?;
        }
        let counts = mask.sum_keepdim(1)?;
        x.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?.broadcast_div(&counts)
    }
}

/// Texts per batch when embedding many at once.
const BATCH: usize = 16;

impl Embedder for E5 {
    fn embed(&self, text: &str, role: Role) -> Result<Vec<f32>> {
        let prefixed = format!("{}{text}", role.e5_prefix());
        let content = self.tokenizer.encode(&prefixed);
        let window = self.max_positions - 2;
        let mut sum: Option<Tensor> = None;
        let mut weight = 0usize;
        // An empty text still has its prefix; `chunks` of an empty slice would yield nothing.
        let chunks: Vec<&[u32]> =
            if content.is_empty() { vec![&content[..]] } else { content.chunks(window).collect() };
        for chunk in chunks {
            let w = chunk.len().max(1);
            let mean = (self.window_mean(chunk)? * w as f64)?;
            sum = Some(match sum {
                Some(s) => (s + mean)?,
                None => mean,
            });
            weight += w;
        }
        let Some(sum) = sum else { return Ok(vec![0.0; self.dim()]) };
        let v: Vec<f32> = (sum / weight as f64)?.to_vec1()?;
        Ok(crate::normalized(v))
    }

    fn embed_batch(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>> {
        let window = self.max_positions - 2;
        let encoded: Vec<Vec<u32>> =
            texts.iter().map(|t| self.tokenizer.encode(&format!("{}{t}", role.e5_prefix()))).collect();
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        // Similar lengths together, so little is padding.
        let mut order: Vec<usize> = (0..texts.len()).filter(|&i| encoded[i].len() <= window).collect();
        order.sort_by_key(|&i| encoded[i].len());
        for group in order.chunks(BATCH) {
            let contents: Vec<Vec<u32>> = group.iter().map(|&i| encoded[i].clone()).collect();
            let means: Vec<Vec<f32>> = self.batch_means(&contents)?.to_vec2()?;
            for (&i, v) in group.iter().zip(means) {
                out[i] = Some(crate::normalized(v));
            }
        }
        // Long texts (several windows) one by one.
        out.into_iter()
            .zip(texts)
            .map(|(v, t)| match v {
                Some(v) => Ok(v),
                None => self.embed(t, role),
            })
            .collect()
    }

    fn dim(&self) -> usize {
        self.positions.dim(1).unwrap_or(0)
    }

    fn key(&self) -> &str {
        &self.key
    }
}
