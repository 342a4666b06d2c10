//! Converts a CTranslate2 Whisper model (`model.bin`, spec `WhisperSpec`) into the ggml file that
//! whisper.cpp reads, in Rust, so the kiosk needs neither Python nor numpy.
//!
//! The output is byte-for-byte what whisper.cpp's `convert-pt-to-ggml.py` writes for the same
//! weights: hyper-parameters, the 80-bin mel filter bank, the BPE vocabulary, then every tensor in
//! openai-whisper state-dict order (1-D tensors, positional embeddings and conv biases as f32, the
//! other matrices as f16). Layout facts: `../shared/MODELS.md`, whisper.cpp `whisper_model_load`.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};

use base64::Engine as _;

/// `ggml` in ASCII, as a little-endian i32: the legacy whisper.cpp file magic.
const GGML_MAGIC: u32 = 0x6767_6d6c;
/// The only CTranslate2 binary version this reader knows.
const CT2_BINARY_VERSION: u32 = 6;
/// ggml tensor types.
const GGML_TYPE_F32: i32 = 0;
const GGML_TYPE_F16: i32 = 1;
/// whisper.cpp `ftype`: mostly f16.
const FTYPE_MOSTLY_F16: i32 = 1;

/// CTranslate2 dtype codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ct2Type {
    F32,
    I8,
    I16,
    I32,
    F16,
}

impl Ct2Type {
    fn from_code(code: u8) -> Result<Self, String> {
        Ok(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            other => return Err(format!("unknown CTranslate2 dtype {other}")),
        })
    }

    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One variable of a CTranslate2 model, borrowed from the file bytes.
#[derive(Debug)]
struct Variable<'a> {
    dims: Vec<usize>,
    dtype: Ct2Type,
    data: &'a [u8],
}

impl Variable<'_> {
    fn scalar_i64(&self) -> Result<i64, String> {
        let d = self.data;
        Ok(match self.dtype {
            Ct2Type::I8 => i64::from(d[0] as i8),
            Ct2Type::I16 => i64::from(i16::from_le_bytes([d[0], d[1]])),
            Ct2Type::I32 => i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            other => return Err(format!("expected an integer scalar, found {other:?}")),
        })
    }

    /// Values as f32 (lossless from f16).
    fn to_f32(&self) -> Result<Vec<f32>, String> {
        match self.dtype {
            Ct2Type::F16 => Ok(self
                .data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()),
            Ct2Type::F32 => {
                Ok(self.data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            }
            other => Err(format!("expected floating-point data, found {other:?}")),
        }
    }
}

/// A parsed CTranslate2 model: variables by name.
#[derive(Debug)]
struct Ct2Model<'a> {
    variables: HashMap<String, Variable<'a>>,
}

/// A bounds-checked little-endian reader over the model bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format!("file truncated at byte {} (wanted {n} more)", self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A CTranslate2 string: u16 length including a trailing NUL, then the bytes.
    fn string(&mut self) -> Result<String, String> {
        let n = usize::from(self.u16()?);
        let bytes = self.take(n)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("bad string in header: {e}"))
    }
}

impl<'a> Ct2Model<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, String> {
        let mut r = Reader { buf, pos: 0 };
        let version = r.u32()?;
        if version != CT2_BINARY_VERSION {
            return Err(format!("CTranslate2 binary version {version}, expected {CT2_BINARY_VERSION}"));
        }
        let spec = r.string()?;
        if spec != "WhisperSpec" {
            return Err(format!("model spec is {spec}, expected WhisperSpec"));
        }
        let _spec_revision = r.u32()?;
        let n_variables = r.u32()?;
        let mut variables = HashMap::new();
        for _ in 0..n_variables {
            let name = r.string()?;
            let rank = usize::from(r.u8()?);
            let dims = (0..rank).map(|_| r.u32().map(|d| d as usize)).collect::<Result<Vec<_>, _>>()?;
            let dtype = Ct2Type::from_code(r.u8()?)?;
            let n_bytes = r.u32()? as usize;
            let data = r.take(n_bytes)?;
            let n_elements: usize = dims.iter().product();
            if n_elements * dtype.size() != n_bytes {
                return Err(format!("variable {name}: {n_bytes} bytes for shape {dims:?} of {dtype:?}"));
            }
            variables.insert(name, Variable { dims, dtype, data });
        }
        Ok(Self { variables })
    }

    fn var(&self, name: &str) -> Result<&Variable<'a>, String> {
        self.variables.get(name).ok_or_else(|| format!("model has no variable {name}"))
    }

    fn dim(&self, name: &str, axis: usize) -> Result<usize, String> {
        self.var(name)?.dims.get(axis).copied().ok_or_else(|| format!("{name} has no axis {axis}"))
    }

    fn count_layers(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| self.variables.contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight")))
            .count()
    }
}

/// Whisper hyper-parameters in ggml header order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HParams {
    pub n_vocab: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    pub n_mels: usize,
}

impl HParams {
    fn from_model(m: &Ct2Model<'_>) -> Result<Self, String> {
        let head = |name: &str| -> Result<usize, String> {
            usize::try_from(m.var(name)?.scalar_i64()?).map_err(|e| format!("{name}: {e}"))
        };
        Ok(Self {
            n_vocab: m.dim("decoder/embeddings/weight", 0)?,
            n_audio_ctx: m.dim("encoder/position_encodings/encodings", 0)?,
            n_audio_state: m.dim("encoder/position_encodings/encodings", 1)?,
            n_audio_head: head("encoder/num_heads")?,
            n_audio_layer: m.count_layers("encoder"),
            n_text_ctx: m.dim("decoder/position_encodings/encodings", 0)?,
            n_text_state: m.dim("decoder/embeddings/weight", 1)?,
            n_text_head: head("decoder/num_heads")?,
            n_text_layer: m.count_layers("decoder"),
            n_mels: m.dim("encoder/conv1/weight", 1)?,
        })
    }
}

/// How a tensor's values are stored in the ggml file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    F32,
    F16,
}

/// A slice of rows (along axis 0) of a CTranslate2 variable, with the shape it has in the output.
struct Tensor<'m, 'a> {
    var: &'m Variable<'a>,
    /// Row range along axis 0, for fused q/k/v matrices.
    rows: Option<(usize, usize)>,
    /// Output shape in PyTorch order (outermost first).
    shape: Vec<usize>,
}

impl<'m, 'a> Tensor<'m, 'a> {
    fn whole(var: &'m Variable<'a>) -> Self {
        Self { var, rows: None, shape: var.dims.clone() }
    }

    /// Rows `[start, start + n)` of a fused matrix or vector.
    fn rows(var: &'m Variable<'a>, start: usize, n: usize) -> Self {
        let mut shape = var.dims.clone();
        shape[0] = n;
        Self { var, rows: Some((start, n)), shape }
    }

    fn bytes(&self) -> &'a [u8] {
        let row_bytes = self.var.dims[1..].iter().product::<usize>() * self.var.dtype.size();
        match self.rows {
            Some((start, n)) => &self.var.data[start * row_bytes..(start + n) * row_bytes],
            None => self.var.data,
        }
    }

    fn values_f32(&self) -> Result<Vec<f32>, String> {
        let var = Variable { dims: self.shape.clone(), dtype: self.var.dtype, data: self.bytes() };
        var.to_f32()
    }
}

/// Streams the ggml file.
struct GgmlWriter<'w> {
    out: &'w mut dyn Write,
}

impl GgmlWriter<'_> {
    fn i32(&mut self, v: i32) -> std::io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }
    fn usize(&mut self, v: usize) -> std::io::Result<()> {
        self.i32(i32::try_from(v).map_err(std::io::Error::other)?)
    }

    fn tensor(&mut self, name: &str, t: &Tensor<'_, '_>, store: Store) -> Result<(), ConvertError> {
        let ggml_type = match store {
            Store::F32 => GGML_TYPE_F32,
            Store::F16 => GGML_TYPE_F16,
        };
        self.usize(t.shape.len())?;
        self.usize(name.len())?;
        self.i32(ggml_type)?;
        for &d in t.shape.iter().rev() {
            self.usize(d)?;
        }
        self.out.write_all(name.as_bytes())?;
        match (store, t.var.dtype) {
            (Store::F16, Ct2Type::F16) | (Store::F32, Ct2Type::F32) => self.out.write_all(t.bytes())?,
            (Store::F32, _) => {
                let mut buf = Vec::with_capacity(t.shape.iter().product::<usize>() * 4);
                for v in t.values_f32().map_err(ConvertError::Format)? {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                self.out.write_all(&buf)?;
            }
            (Store::F16, _) => {
                let mut buf = Vec::with_capacity(t.shape.iter().product::<usize>() * 2);
                for v in t.values_f32().map_err(ConvertError::Format)? {
                    buf.extend_from_slice(&half::f16::from_f32(v).to_le_bytes());
                }
                self.out.write_all(&buf)?;
            }
        }
        Ok(())
    }
}

/// Why a conversion failed: bad input, or the output refused the bytes (disk full...).
#[derive(Debug)]
pub(crate) enum ConvertError {
    Format(String),
    Write(std::io::Error),
}

impl From<std::io::Error> for ConvertError {
    fn from(e: std::io::Error) -> Self {
        Self::Write(e)
    }
}

/// Converts `model_bin` (joined CTranslate2 `model.bin`) to ggml, writing to `out`.
///
/// `mel_filters_npz` is openai-whisper's `mel_filters.npz`; `tiktoken` its
/// `multilingual.tiktoken`.
pub(crate) fn convert(
    model_bin: &[u8],
    mel_filters_npz: &[u8],
    tiktoken: &[u8],
    out: &mut dyn Write,
) -> Result<HParams, ConvertError> {
    let model = Ct2Model::parse(model_bin).map_err(ConvertError::Format)?;
    let hp = HParams::from_model(&model).map_err(ConvertError::Format)?;
    let (filters, n_mel, n_fft) = mel_filters(mel_filters_npz, hp.n_mels).map_err(ConvertError::Format)?;
    let tokens = tiktoken_tokens(tiktoken).map_err(ConvertError::Format)?;

    let mut w = GgmlWriter { out };
    w.i32(GGML_MAGIC as i32)?;
    for v in [
        hp.n_vocab,
        hp.n_audio_ctx,
        hp.n_audio_state,
        hp.n_audio_head,
        hp.n_audio_layer,
        hp.n_text_ctx,
        hp.n_text_state,
        hp.n_text_head,
        hp.n_text_layer,
        hp.n_mels,
    ] {
        w.usize(v)?;
    }
    w.i32(FTYPE_MOSTLY_F16)?;

    w.usize(n_mel)?;
    w.usize(n_fft)?;
    let mut buf = Vec::with_capacity(filters.len() * 4);
    for v in &filters {
        buf.extend_from_slice(&v.to_le_bytes());
    }
    w.out.write_all(&buf)?;

    w.usize(tokens.len())?;
    for token in &tokens {
        w.usize(token.len())?;
        w.out.write_all(token)?;
    }

    write_tensors(&model, &hp, &mut w)?;
    Ok(hp)
}

fn write_tensors(m: &Ct2Model<'_>, hp: &HParams, w: &mut GgmlWriter<'_>) -> Result<(), ConvertError> {
    let var = |name: &str| m.var(name).map_err(ConvertError::Format);

    // Encoder: positional embedding, convolutions, blocks, final LayerNorm.
    w.tensor(
        "encoder.positional_embedding",
        &Tensor::whole(var("encoder/position_encodings/encodings")?),
        Store::F32,
    )?;
    for conv in ["conv1", "conv2"] {
        w.tensor(
            &format!("encoder.{conv}.weight"),
            &Tensor::whole(var(&format!("encoder/{conv}/weight"))?),
            Store::F16,
        )?;
        let bias = var(&format!("encoder/{conv}/bias"))?;
        let mut t = Tensor::whole(bias);
        t.shape = vec![bias.dims[0], 1];
        w.tensor(&format!("encoder.{conv}.bias"), &t, Store::F32)?;
    }
    for i in 0..hp.n_audio_layer {
        let src = format!("encoder/layer_{i}");
        let dst = format!("encoder.blocks.{i}");
        attention_qkv(m, w, &format!("{src}/self_attention"), &format!("{dst}.attn"), hp.n_audio_state)?;
        linear(m, w, &format!("{src}/self_attention/linear_1"), &format!("{dst}.attn.out"))?;
        layer_norm(m, w, &format!("{src}/self_attention/layer_norm"), &format!("{dst}.attn_ln"))?;
        mlp(m, w, &src, &dst)?;
    }
    layer_norm(m, w, "encoder/layer_norm", "encoder.ln_post")?;

    // Decoder: positional embedding, token embedding, blocks, final LayerNorm.
    w.tensor(
        "decoder.positional_embedding",
        &Tensor::whole(var("decoder/position_encodings/encodings")?),
        Store::F32,
    )?;
    w.tensor(
        "decoder.token_embedding.weight",
        &Tensor::whole(var("decoder/embeddings/weight")?),
        Store::F16,
    )?;
    for i in 0..hp.n_text_layer {
        let src = format!("decoder/layer_{i}");
        let dst = format!("decoder.blocks.{i}");
        let n = hp.n_text_state;
        attention_qkv(m, w, &format!("{src}/self_attention"), &format!("{dst}.attn"), n)?;
        linear(m, w, &format!("{src}/self_attention/linear_1"), &format!("{dst}.attn.out"))?;
        layer_norm(m, w, &format!("{src}/self_attention/layer_norm"), &format!("{dst}.attn_ln"))?;
        // Cross-attention: query alone, key and value fused.
        linear(m, w, &format!("{src}/attention/linear_0"), &format!("{dst}.cross_attn.query"))?;
        let kv_w = var(&format!("{src}/attention/linear_1/weight"))?;
        let kv_b = var(&format!("{src}/attention/linear_1/bias"))?;
        check_zero_bias(&Tensor::rows(kv_b, 0, n), &format!("{src}/attention/linear_1/bias[key]"))?;
        w.tensor(&format!("{dst}.cross_attn.key.weight"), &Tensor::rows(kv_w, 0, n), Store::F16)?;
        w.tensor(&format!("{dst}.cross_attn.value.weight"), &Tensor::rows(kv_w, n, n), Store::F16)?;
        w.tensor(&format!("{dst}.cross_attn.value.bias"), &Tensor::rows(kv_b, n, n), Store::F32)?;
        linear(m, w, &format!("{src}/attention/linear_2"), &format!("{dst}.cross_attn.out"))?;
        layer_norm(m, w, &format!("{src}/attention/layer_norm"), &format!("{dst}.cross_attn_ln"))?;
        mlp(m, w, &src, &dst)?;
    }
    layer_norm(m, w, "decoder/layer_norm", "decoder.ln")?;
    Ok(())
}

/// A fused q/k/v projection split into whisper's query, key (no bias) and value.
fn attention_qkv(
    m: &Ct2Model<'_>,
    w: &mut GgmlWriter<'_>,
    src: &str,
    dst: &str,
    n: usize,
) -> Result<(), ConvertError> {
    let weight = m.var(&format!("{src}/linear_0/weight")).map_err(ConvertError::Format)?;
    let bias = m.var(&format!("{src}/linear_0/bias")).map_err(ConvertError::Format)?;
    if weight.dims.first() != Some(&(3 * n)) {
        return Err(ConvertError::Format(format!(
            "{src}/linear_0/weight has shape {:?}, expected [{}, ..]",
            weight.dims,
            3 * n
        )));
    }
    check_zero_bias(&Tensor::rows(bias, n, n), &format!("{src}/linear_0/bias[key]"))?;
    w.tensor(&format!("{dst}.query.weight"), &Tensor::rows(weight, 0, n), Store::F16)?;
    w.tensor(&format!("{dst}.query.bias"), &Tensor::rows(bias, 0, n), Store::F32)?;
    w.tensor(&format!("{dst}.key.weight"), &Tensor::rows(weight, n, n), Store::F16)?;
    w.tensor(&format!("{dst}.value.weight"), &Tensor::rows(weight, 2 * n, n), Store::F16)?;
    w.tensor(&format!("{dst}.value.bias"), &Tensor::rows(bias, 2 * n, n), Store::F32)?;
    Ok(())
}

/// Whisper has no key bias; CTranslate2 stores zeros there. Anything else means a different model.
fn check_zero_bias(t: &Tensor<'_, '_>, what: &str) -> Result<(), ConvertError> {
    let values = t.values_f32().map_err(ConvertError::Format)?;
    if values.iter().any(|v| *v != 0.0) {
        return Err(ConvertError::Format(format!("{what} is not zero; not a Whisper model")));
    }
    Ok(())
}

fn linear(m: &Ct2Model<'_>, w: &mut GgmlWriter<'_>, src: &str, dst: &str) -> Result<(), ConvertError> {
    let weight = m.var(&format!("{src}/weight")).map_err(ConvertError::Format)?;
    let bias = m.var(&format!("{src}/bias")).map_err(ConvertError::Format)?;
    w.tensor(&format!("{dst}.weight"), &Tensor::whole(weight), Store::F16)?;
    w.tensor(&format!("{dst}.bias"), &Tensor::whole(bias), Store::F32)
}

fn layer_norm(m: &Ct2Model<'_>, w: &mut GgmlWriter<'_>, src: &str, dst: &str) -> Result<(), ConvertError> {
    let gamma = m.var(&format!("{src}/gamma")).map_err(ConvertError::Format)?;
    let beta = m.var(&format!("{src}/beta")).map_err(ConvertError::Format)?;
    w.tensor(&format!("{dst}.weight"), &Tensor::whole(gamma), Store::F32)?;
    w.tensor(&format!("{dst}.bias"), &Tensor::whole(beta), Store::F32)
}

fn mlp(m: &Ct2Model<'_>, w: &mut GgmlWriter<'_>, src: &str, dst: &str) -> Result<(), ConvertError> {
    linear(m, w, &format!("{src}/ffn/linear_0"), &format!("{dst}.mlp.0"))?;
    linear(m, w, &format!("{src}/ffn/linear_1"), &format!("{dst}.mlp.2"))?;
    layer_norm(m, w, &format!("{src}/ffn/layer_norm"), &format!("{dst}.mlp_ln"))
}

/// Reads `mel_{n_mels}.npy` (f32, C order, 2-D) from openai-whisper's `mel_filters.npz`.
fn mel_filters(npz: &[u8], n_mels: usize) -> Result<(Vec<f32>, usize, usize), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(npz)).map_err(|e| format!("mel_filters.npz: {e}"))?;
    let name = format!("mel_{n_mels}.npy");
    let mut member = zip.by_name(&name).map_err(|e| format!("mel_filters.npz has no {name}: {e}"))?;
    let mut npy = Vec::new();
    member.read_to_end(&mut npy).map_err(|e| format!("mel_filters.npz: {e}"))?;
    let (shape, data) = parse_npy_f32(&npy).map_err(|e| format!("{name}: {e}"))?;
    match shape[..] {
        [rows, cols] if rows == n_mels => Ok((data, rows, cols)),
        _ => Err(format!("{name} has shape {shape:?}, expected [{n_mels}, n_fft]")),
    }
}

/// Parses a little-endian f32, C-order `.npy` array (format versions 1-3).
fn parse_npy_f32(npy: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    let rest = npy.strip_prefix(b"\x93NUMPY").ok_or("not an .npy file")?;
    let (major, rest) = rest.split_first().ok_or("truncated")?;
    let rest = rest.get(1..).ok_or("truncated")?;
    let (header_len, rest) = match major {
        1 => (usize::from(u16::from_le_bytes([rest[0], rest[1]])), &rest[2..]),
        2 | 3 => (u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize, &rest[4..]),
        v => return Err(format!("npy version {v}")),
    };
    let header =
        std::str::from_utf8(rest.get(..header_len).ok_or("truncated header")?).map_err(|e| e.to_string())?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(format!("unsupported array header {header}"));
    }
    let shape_text =
        header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).ok_or("no shape in header")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &rest[header_len..];
    let n: usize = shape.iter().product();
    if data.len() != n * 4 {
        return Err(format!("{} data bytes for shape {shape:?}", data.len()));
    }
    let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((shape, values))
}

/// The token byte strings of a `.tiktoken` file (lines `base64 rank`), in file order.
fn tiktoken_tokens(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("tiktoken: {e}"))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            // Python's lenient decoder (which whisper's converter uses) turns the lone "=" of the
            // last line into an empty token; decoding without padding does the same.
            let token = line.split_whitespace().next().unwrap_or("").trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(token)
                .map_err(|e| format!("tiktoken line {}: {e}", i + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct2_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    fn ct2_var(out: &mut Vec<u8>, name: &str, dims: &[u32], dtype: u8, data: &[u8]) {
        ct2_string(out, name);
        out.push(dims.len() as u8);
        for d in dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.push(dtype);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }

    #[test]
    fn parses_header_and_rejects_truncation() {
        let mut bin = Vec::new();
        bin.extend_from_slice(&6u32.to_le_bytes());
        ct2_string(&mut bin, "WhisperSpec");
        bin.extend_from_slice(&3u32.to_le_bytes());
        bin.extend_from_slice(&2u32.to_le_bytes());
        ct2_var(&mut bin, "encoder/num_heads", &[], 2, &8i16.to_le_bytes());
        let f16s: Vec<u8> =
            [1.0f32, -2.0].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        ct2_var(&mut bin, "x", &[2], 4, &f16s);
        let model = Ct2Model::parse(&bin).expect("parses");
        assert_eq!(model.var("encoder/num_heads").and_then(|v| v.scalar_i64()), Ok(8));
        assert_eq!(model.var("x").and_then(|v| v.to_f32()), Ok(vec![1.0, -2.0]));
        let err = Ct2Model::parse(&bin[..bin.len() - 1]).expect_err("truncated");
        assert!(err.contains("truncated"), "{err}");
        let mut wrong = bin.clone();
        wrong[0] = 5;
        assert!(Ct2Model::parse(&wrong).is_err());
    }

    #[test]
    fn npy_round_trip() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
        npy.extend_from_slice(header.as_bytes());
        for v in 0..6 {
            npy.extend_from_slice(&(v as f32).to_le_bytes());
        }
        let (shape, data) = parse_npy_f32(&npy).expect("parses");
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(parse_npy_f32(&npy[..npy.len() - 2]).is_err());
    }

    #[test]
    fn tiktoken_lines_decode() {
        let tokens = tiktoken_tokens(b"IQ== 0\nIg== 1\n\n= 2\n").expect("decodes");
        assert_eq!(tokens, vec![b"!".to_vec(), b"\"".to_vec(), Vec::new()]);
        assert!(tiktoken_tokens(b"*** 0\n").is_err());
    }
}
