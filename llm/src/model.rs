//! Qwen2 (GGUF, quantised) on candle with the attention cache held outside the weights.
//!
//! candle-transformers' `quantized_qwen2::ModelWeights` keeps its KV cache inside the layers with
//! no way to copy or trim it, so a fixed system prompt would be re-read on every request. Here the
//! weights are immutable and shared, and each conversation owns a [`KvCache`]: cloning one is a
//! snapshot (tensors are reference-counted and never written in place), and [`KvCache::truncate`]
//! rewinds it to any earlier position, so a new request re-uses the longest prefix it shares with
//! what was already read. The forward pass is candle's (same tensors, same maths, the same logits:
//! tested against candle's own model).
//!
//! The file's weights come in several 4-to-8-bit formats. candle has vectorised dot products for
//! most of them but not for Q4_1, Q5_0 or Q5_1, and the Qwen2.5-0.5B Q4_K_M file stores most of its
//! matrices as Q5_0 (their width, 896, is no multiple of the 256 that the K formats need). Read as
//! stored, those matrices run on candle's scalar loop. [`Weights::Fast`] re-encodes them as Q8_0 at
//! load (one more rounding, far finer than the 5-bit one already in the file), whose dot product
//! is vectorised, and holds the token table as f16 rather than f32 (it is only looked up).

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor, gguf_file};
use candle_core::{DType, Device, IndexOp as _, Module as _, Result, Tensor};
use candle_transformers::quantized_nn::RmsNorm;
use candle_transformers::utils::repeat_kv;

#[derive(Debug)]
struct Mlp {
    gate: QMatMul,
    down: QMatMul,
    up: QMatMul,
}

impl Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let gate = self.gate.forward(xs)?;
        let up = self.up.forward(xs)?;
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

#[derive(Debug)]
struct Layer {
    wq: QMatMul,
    wk: QMatMul,
    wv: QMatMul,
    bq: Tensor,
    bk: Tensor,
    bv: Tensor,
    wo: QMatMul,
    attention_norm: RmsNorm,
    mlp: Mlp,
    ffn_norm: RmsNorm,
}

/// The attention keys and values of one conversation, layer by layer.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `len` positions (a view: nothing is copied).
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        if len == 0 {
            *self = Self::default();
            return Ok(());
        }
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.narrow(2, 0, len)?;
            *v = v.narrow(2, 0, len)?;
        }
        self.len = len;
        Ok(())
    }
}

/// Model shape, from the GGUF metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width.
    pub width: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Layers.
    pub layers: usize,
    /// Longest context.
    pub context: usize,
}

/// How the weights are held in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weights {
    /// Exactly as stored in the file (the same computation as candle's own model).
    AsStored,
    /// Formats without a vectorised kernel in candle (Q4_1, Q5_0, Q5_1) re-encoded as Q8_0.
    #[default]
    Fast,
}

impl Weights {
    fn prepare(self, tensor: QTensor, device: &Device) -> Result<QTensor> {
        let slow = matches!(tensor.dtype(), GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1);
        if self == Self::AsStored || !slow {
            return Ok(tensor);
        }
        // Same block length (32), so every shape the file allows Q8_0 allows too.
        QTensor::quantize(&tensor.dequantize(device)?, GgmlDType::Q8_0)
    }
}

/// Qwen2 weights (immutable; share them between threads).
#[derive(Debug)]
pub struct Qwen2 {
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    shape: Shape,
    masks: Mutex<HashMap<(usize, usize), Tensor>>,
    device: Device,
}

impl Qwen2 {
    /// Loads a `qwen2` GGUF, its weights held as `weights` says.
    pub fn from_gguf<R: std::io::Seek + std::io::Read>(
        content: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
        weights: Weights,
    ) -> Result<Self> {
        let meta = |key: &str| match content.metadata.get(key) {
            Some(v) => Ok(v),
            None => candle_core::bail!("the GGUF has no `{key}`: not a qwen2 model"),
        };
        let heads = meta("qwen2.attention.head_count")?.to_u32()? as usize;
        let kv_heads = meta("qwen2.attention.head_count_kv")?.to_u32()? as usize;
        let width = meta("qwen2.embedding_length")?.to_u32()? as usize;
        let context = meta("qwen2.context_length")?.to_u32()? as usize;
        let n_layers = meta("qwen2.block_count")?.to_u32()? as usize;
        let eps = f64::from(meta("qwen2.attention.layer_norm_rms_epsilon")?.to_f32()?);
        let rope_base = meta("qwen2.rope.freq_base").and_then(|m| m.to_f32()).unwrap_or(10_000.0);
        let head_dim = width / heads;
        let tensor = |reader: &mut R, name: &str| content.tensor(reader, name, device);

        // The token table (151936 x 896) is only looked up, a few rows at a time: held as f16
        // (272 MB instead of 545 MB as f32; f16 rounds each value by less than 0.05%).
        let table = tensor(reader, "token_embd.weight")?;
        let embeddings = match weights {
            Weights::AsStored => table.dequantize(device)?,
            Weights::Fast => table.dequantize_f16(device)?,
        };
        let norm = RmsNorm::from_qtensor(tensor(reader, "output_norm.weight")?, eps)?;
        let output = match tensor(reader, "output.weight") {
            Ok(w) => QMatMul::from_qtensor(weights.prepare(w, device)?)?,
            // Tied embeddings: the output projection is the (quantised) embedding matrix.
            Err(_) => QMatMul::from_qtensor(weights.prepare(tensor(reader, "token_embd.weight")?, device)?)?,
        };
        // Rotary tables up to a working context (the kiosk's prompts are short).
        let table_len = context.min(8192);
        let theta: Vec<f32> =
            (0..head_dim).step_by(2).map(|i| 1.0 / rope_base.powf(i as f32 / head_dim as f32)).collect();
        let theta = Tensor::new(theta.as_slice(), device)?;
        let positions =
            Tensor::arange(0, table_len as u32, device)?.to_dtype(DType::F32)?.reshape((table_len, 1))?;
        let angles = positions.matmul(&theta.reshape((1, theta.elem_count()))?)?;
        let (cos, sin) = (angles.cos()?, angles.sin()?);

        let mut layers = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let p = format!("blk.{i}");
            let q = |reader: &mut R, n: &str| -> Result<QMatMul> {
                QMatMul::from_qtensor(weights.prepare(tensor(reader, &format!("{p}.{n}"))?, device)?)
            };
            let f = |reader: &mut R, n: &str| -> Result<Tensor> {
                tensor(reader, &format!("{p}.{n}"))?.dequantize(device)
            };
            layers.push(Layer {
                wq: q(reader, "attn_q.weight")?,
                wk: q(reader, "attn_k.weight")?,
                wv: q(reader, "attn_v.weight")?,
                bq: f(reader, "attn_q.bias")?,
                bk: f(reader, "attn_k.bias")?,
                bv: f(reader, "attn_v.bias")?,
                wo: q(reader, "attn_output.weight")?,
                attention_norm: RmsNorm::from_qtensor(
                    tensor(reader, &format!("{p}.attn_norm.weight"))?,
                    eps,
                )?,
                mlp: Mlp {
                    gate: q(reader, "ffn_gate.weight")?,
                    down: q(reader, "ffn_down.weight")?,
                    up: q(reader, "ffn_up.weight")?,
                },
                ffn_norm: RmsNorm::from_qtensor(tensor(reader, &format!("{p}.ffn_norm.weight"))?, eps)?,
            });
        }
        Ok(Self {
            embeddings,
            layers,
            norm,
            output,
            cos,
            sin,
            shape: Shape { heads, kv_heads, width, head_dim, layers: n_layers, context: table_len },
            masks: Mutex::new(HashMap::new()),
            device: device.clone(),
        })
    }

    /// The model's shape.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// A cache for a new conversation.
    pub fn new_cache(&self) -> KvCache {
        KvCache { layers: vec![None; self.layers.len()], len: 0 }
    }

    fn mask(&self, seq_len: usize, index_pos: usize) -> Result<Tensor> {
        let key = (seq_len, index_pos);
        if let Ok(masks) = self.masks.lock()
            && let Some(m) = masks.get(&key)
        {
            return Ok(m.clone());
        }
        let mask = candle_transformers::utils::build_causal_mask(seq_len, index_pos, &self.device)?;
        if let Ok(mut masks) = self.masks.lock() {
            // Prompts vary in length: keep the table small.
            if masks.len() > 64 {
                masks.clear();
            }
            masks.insert(key, mask.clone());
        }
        Ok(mask)
    }

    /// Reads `tokens` after what `cache` holds; returns the logits of the last position.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let seq_len = tokens.len();
        if seq_len == 0 {
            candle_core::bail!("no tokens to read");
        }
        let index_pos = cache.len;
        if index_pos + seq_len > self.shape.context {
            candle_core::bail!("context full: {} + {seq_len} tokens > {}", index_pos, self.shape.context);
        }
        if cache.layers.len() != self.layers.len() {
            cache.layers = vec![None; self.layers.len()];
        }
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mask = if seq_len == 1 { None } else { Some(self.mask(seq_len, index_pos)?) };
        let mut x = self.embeddings.embedding(&input.squeeze(0)?)?.to_dtype(DType::F32)?.unsqueeze(0)?;
        let cos = self.cos.narrow(0, index_pos, seq_len)?;
        let sin = self.sin.narrow(0, index_pos, seq_len)?;
        let Shape { heads, kv_heads, width, head_dim, .. } = self.shape;
        let neg_inf = Tensor::new(f32::NEG_INFINITY, &self.device)?;
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let residual = x.clone();
            let h = layer.attention_norm.forward(&x)?;
            let split = |t: Tensor, n: usize| -> Result<Tensor> {
                t.reshape((1, seq_len, n, head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = split(layer.wq.forward(&h)?.broadcast_add(&layer.bq)?, heads)?;
            let k = split(layer.wk.forward(&h)?.broadcast_add(&layer.bk)?, kv_heads)?;
            let v = split(layer.wv.forward(&h)?.broadcast_add(&layer.bv)?, kv_heads)?;
            let q = candle_nn::rotary_emb::rope(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
            let (k, v) = match slot.take() {
                Some((kc, vc)) => (Tensor::cat(&[&kc, &k], 2)?, Tensor::cat(&[&vc, &v], 2)?),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            let k = repeat_kv(k, heads / kv_heads)?;
            let v = repeat_kv(v, heads / kv_heads)?;
            let mut att = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?;
            if let Some(mask) = &mask {
                let mask = mask.broadcast_as(att.shape())?;
                att = mask.where_cond(&neg_inf.broadcast_as(att.shape().dims())?, &att)?;
            }
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v.contiguous()?)?.transpose(1, 2)?.reshape((1, seq_len, width))?;
            x = (layer.wo.forward(&y)? + residual)?;
            let residual = x.clone();
            let h = layer.ffn_norm.forward(&x)?;
            x = (layer.mlp.forward(&h)? + residual)?;
        }
        cache.len = index_pos + seq_len;
        let x = self.norm.forward(&x)?;
        let last = x.i((.., seq_len - 1, ..))?;
        self.output.forward(&last)?.squeeze(0)
    }
}
