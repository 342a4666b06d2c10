//! The XLM-RoBERTa SentencePiece unigram tokenizer, from the vocabulary embedded in the E5 file:
//! per-codepoint normalisation, runs of spaces collapsed, a leading `▁` and spaces as `▁`, then the
//! Viterbi segmentation with the highest total piece score (unknown characters cost the lowest
//! piece score minus 10). Matches the reference engine token for token (tested).

use std::collections::HashMap;

use super::file::Vocab;

/// SentencePiece's word-start marker.
const META: char = '\u{2581}';

/// The tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    ids: HashMap<String, u32>,
    scores: Vec<f32>,
    normalize: HashMap<char, Vec<char>>,
    unk: u32,
    unk_score: f32,
    max_piece_bytes: usize,
    /// `<s>`.
    pub bos: u32,
    /// `</s>`.
    pub eos: u32,
}

impl Tokenizer {
    /// Builds the lookup tables.
    pub fn new(vocab: Vocab) -> Self {
        let mut ids = HashMap::with_capacity(vocab.pieces.len());
        let mut max_piece_bytes = 1;
        for (i, piece) in vocab.pieces.into_iter().enumerate() {
            if piece.is_empty() {
                continue;
            }
            max_piece_bytes = max_piece_bytes.max(piece.len());
            // The first of duplicate pieces wins, as in the reference's hash table.
            ids.entry(piece).or_insert(i as u32);
        }
        let min_score = vocab.scores.iter().copied().fold(f32::INFINITY, f32::min);
        Self {
            ids,
            scores: vocab.scores,
            normalize: vocab.normalize,
            unk: vocab.unk,
            unk_score: min_score - 10.0,
            max_piece_bytes,
            bos: vocab.bos,
            eos: vocab.eos,
        }
    }

    /// Content token ids of `text` (without `<s>` and `</s>`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.normalize.get(&c) {
                Some(out) => chars.extend_from_slice(out),
                None => chars.push(c),
            }
        }
        chars.dedup_by(|b, a| *a == ' ' && *b == ' ');
        // The normalised string with `▁` for spaces and a leading `▁`, and each character's byte start.
        let mut buf = String::with_capacity(chars.len() * 3 + 3);
        let mut starts: Vec<usize> = Vec::with_capacity(chars.len() + 2);
        if chars.first() != Some(&' ') {
            starts.push(0);
            buf.push(META);
        }
        for &c in &chars {
            starts.push(buf.len());
            buf.push(if c == ' ' { META } else { c });
        }
        let n = starts.len();
        starts.push(buf.len());

        let mut best = vec![f32::NEG_INFINITY; n + 1];
        let mut piece = vec![u32::MAX; n + 1];
        let mut from = vec![0usize; n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            let begin = starts[i];
            for e in i + 1..=n {
                if starts[e] - begin > self.max_piece_bytes {
                    break;
                }
                if let Some(&id) = self.ids.get(&buf[begin..starts[e]])
                    && id != self.unk
                {
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        piece[e] = id;
                        from[e] = i;
                    }
                }
            }
            let score = best[i] + self.unk_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                piece[i + 1] = u32::MAX;
                from[i + 1] = i;
            }
        }
        let mut out = Vec::new();
        let mut i = n;
        while i > 0 {
            out.push(if piece[i] == u32::MAX { self.unk } else { piece[i] });
            i = from[i];
        }
        out.reverse();
        out
    }
}
