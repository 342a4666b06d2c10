//! Builds a Hugging Face `tokenizer.json` from the tokenizer metadata inside a GGUF file, so the
//! Qwen language model can be used with the `tokenizers` crate without any hub download.
//!
//! GGUF stores the byte-level BPE as `tokenizer.ggml.{model,pre,tokens,token_type,merges}`. Token
//! type 1 (normal) rows become the BPE vocabulary (id = row index); types 3 (control) and 4
//! (user-defined) become added tokens (special for control); type 5 (unused padding rows) is
//! dropped. The normaliser, pre-tokeniser and decoder are those of Qwen2's own tokenizer.json.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::{Map, json};

/// GGUF token types (llama.cpp `llama_token_type`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Qwen2's pre-tokenisation split pattern (from its published tokenizer.json).
const QWEN2_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Reads the GGUF at `path` and returns the tokenizer.json text.
pub(crate) fn tokenizer_json_from_gguf(path: &Path) -> Result<String, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let content = Content::read(&mut BufReader::new(file))
        .map_err(|e| format!("{} is not a readable GGUF file: {e}", path.display()))?;
    build(&content)
}

fn meta<'c>(content: &'c Content, key: &str) -> Result<&'c Value, String> {
    content.metadata.get(key).ok_or_else(|| format!("GGUF metadata has no {key}"))
}

fn strings<'c>(content: &'c Content, key: &str) -> Result<Vec<&'c str>, String> {
    meta(content, key)?
        .to_vec()
        .map_err(|e| format!("{key}: {e}"))?
        .iter()
        .map(|v| v.to_string().map(String::as_str).map_err(|e| format!("{key}: {e}")))
        .collect()
}

fn build(content: &Content) -> Result<String, String> {
    let model = meta(content, "tokenizer.ggml.model")?.to_string().map_err(|e| e.to_string())?;
    if model != "gpt2" {
        return Err(format!("tokenizer model is {model}, expected gpt2 (byte-level BPE)"));
    }
    let pre = meta(content, "tokenizer.ggml.pre")?.to_string().map_err(|e| e.to_string())?;
    if pre != "qwen2" {
        return Err(format!("pre-tokeniser is {pre}, only qwen2 is supported"));
    }
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges = strings(content, "tokenizer.ggml.merges")?;
    let types = meta(content, "tokenizer.ggml.token_type")?
        .to_vec()
        .map_err(|e| e.to_string())?
        .iter()
        .map(|v| v.to_i32().map_err(|e| format!("token_type: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if types.len() != tokens.len() {
        return Err(format!("{} tokens but {} token types", tokens.len(), types.len()));
    }

    let mut vocab = Map::new();
    let mut added = Vec::new();
    for (id, (token, kind)) in tokens.iter().zip(&types).enumerate() {
        match *kind {
            TOKEN_TYPE_NORMAL => {
                vocab.insert((*token).to_owned(), json!(id));
            }
            TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED => added.push(json!({
                "id": id,
                "content": token,
                "single_word": false,
                "lstrip": false,
                "rstrip": false,
                "normalized": false,
                "special": *kind == TOKEN_TYPE_CONTROL,
            })),
            _ => {}
        }
    }
    let byte_level = json!({
        "type": "ByteLevel",
        "add_prefix_space": false,
        "trim_offsets": false,
        "use_regex": false,
    });
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": { "type": "NFC" },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": { "Regex": QWEN2_SPLIT_REGEX },
                    "behavior": "Isolated",
                    "invert": false,
                },
                byte_level,
            ],
        },
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": merges,
        },
    });
    serde_json::to_string(&tokenizer).map_err(|e| e.to_string())
}
