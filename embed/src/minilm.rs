//! all-MiniLM-L6-v2 (English only) through candle's BERT, from its safetensors, `config.json` and
//! `tokenizer.json`: mean pooling over the attention mask, L2-normalised. No prefixes.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::{Embedder, Role};

/// Catalog name.
const MODEL: &str = "minilm-l6";
/// Folder inside the models directory.
pub const DIR: &str = "minilm-l6";
/// Longest input in tokens.
const MAX_TOKENS: usize = 256;

/// The loaded model.
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    key: String,
    dim: usize,
}

impl std::fmt::Debug for MiniLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLm").field("key", &self.key).finish()
    }
}

impl MiniLm {
    /// Loads the model from the models directory.
    pub fn load_from_models_dir(models_dir: &Path) -> Result<Self> {
        Self::load(&models_dir.join(DIR))
    }

    /// Loads the model folder `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            if !path.exists() {
                return Err(Error::Missing { path, model: MODEL });
            }
            std::fs::read(&path).map_err(|source| Error::Io { path, source })
        };
        let corrupt = |name: &str, detail: String| Error::Corrupt {
            path: dir.join(name),
            format: "all-MiniLM-L6-v2",
            model: MODEL,
            detail,
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| corrupt("config.json", e.to_string()))?;
        let weights = read("model.safetensors")?;
        let key = format!("minilm-l6:{:x}", Sha256::digest(&weights));
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| corrupt("model.safetensors", e.to_string()))?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| corrupt("tokenizer.json", e.to_string()))?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| corrupt("tokenizer.json", e.to_string()))?;
        tokenizer.with_padding(None);
        Ok(Self { model, tokenizer, key, dim: config.hidden_size })
    }
}

impl Embedder for MiniLm {
    fn embed(&self, text: &str, _role: Role) -> Result<Vec<f32>> {
        let encoding = self.tokenizer.encode(text, true).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let device = &self.model.device;
        let ids = Tensor::new(encoding.get_ids(), device)?.unsqueeze(0)?;
        let types = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &types, None)?;
        let v: Vec<f32> = hidden.squeeze(0)?.mean(0)?.to_vec1()?;
        Ok(crate::normalized(v))
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn key(&self) -> &str {
        &self.key
    }
}
