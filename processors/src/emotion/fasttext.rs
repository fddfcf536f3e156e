//! A reader of fastText's binary model format (version 12, a quantized
//! `.ftz` supervised model) and its prediction, reproducing fastText 0.9's
//! arithmetic step for step: f32 sums in input order, the 512-step sigmoid
//! table, and `exp((float)log(p + 1e-5))` for the returned probability.
//! The crates.io `fasttext` crate gives wrong probabilities for this model
//! (../shared/notes/nade-emotion-model.md), hence this reader.

use std::collections::HashMap;
use std::io::{self, Read};

const MAGIC: i32 = 793_712_314;
const VERSION: i32 = 12;
const EOS: &str = "</s>";
const BOW: &str = "<";
const EOW: &str = ">";
const LABEL_PREFIX: &str = "__label__";
const SIGMOID_TABLE_SIZE: usize = 512;
const MAX_SIGMOID: f32 = 8.0;
const KSUB: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("reading the model: {0}")]
    Io(#[from] io::Error),
    #[error("not a fastText model this reader supports: {0}")]
    Unsupported(String),
}

/// Product quantizer: `nsubq` sub-vectors with 256 centroids each.
struct ProductQuantizer {
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(r: &mut impl Read) -> Result<Self, ModelError> {
        let dim = read_i32(r)? as usize;
        let nsubq = read_i32(r)? as usize;
        let dsub = read_i32(r)? as usize;
        let lastdsub = read_i32(r)? as usize;
        let centroids = read_f32s(r, dim * KSUB)?;
        Ok(ProductQuantizer { nsubq, dsub, lastdsub, centroids })
    }

    fn centroids(&self, m: usize, code: u8) -> &[f32] {
        let code = code as usize;
        if m == self.nsubq - 1 {
            let at = m * KSUB * self.dsub + code * self.lastdsub;
            &self.centroids[at..at + self.lastdsub]
        } else {
            let at = (m * KSUB + code) * self.dsub;
            &self.centroids[at..at + self.dsub]
        }
    }
}

struct QuantMatrix {
    codes: Vec<u8>,
    pq: ProductQuantizer,
    /// Per-row norm codes and their quantizer, when the norms are quantized.
    norms: Option<(Vec<u8>, ProductQuantizer)>,
}

impl QuantMatrix {
    fn read(r: &mut impl Read) -> Result<Self, ModelError> {
        let qnorm = read_u8(r)? != 0;
        let rows = read_i64(r)? as usize;
        let _cols = read_i64(r)?;
        let codesize = read_i32(r)? as usize;
        let codes = read_bytes(r, codesize)?;
        let pq = ProductQuantizer::read(r)?;
        let norms = if qnorm { Some((read_bytes(r, rows)?, ProductQuantizer::read(r)?)) } else { None };
        Ok(QuantMatrix { codes, pq, norms })
    }

    /// `x += row`, as QuantMatrix::addRowToVector.
    fn add_row_to(&self, x: &mut [f32], row: usize) {
        let norm = match &self.norms {
            Some((codes, npq)) => npq.centroids(0, codes[row])[0],
            None => 1.0,
        };
        let code = &self.codes[self.pq.nsubq * row..self.pq.nsubq * (row + 1)];
        for (m, &c) in code.iter().enumerate() {
            let centroid = self.pq.centroids(m, c);
            let base = m * self.pq.dsub;
            for (n, &value) in centroid.iter().enumerate() {
                x[base + n] += norm * value;
            }
        }
    }
}

struct Entry {
    is_label: bool,
}

pub struct FastText {
    dim: usize,
    word_ngrams: usize,
    bucket: u32,
    minn: usize,
    maxn: usize,
    nwords: usize,
    words: HashMap<String, usize>,
    entries: Vec<Entry>,
    /// `None`: not pruned (every bucket has a row); otherwise bucket → row.
    pruned: Option<HashMap<i32, i32>>,
    input: QuantMatrix,
    /// Dense output matrix, `labels` rows of `dim`.
    output: Vec<f32>,
    /// The integer after `__label__` of each label, in model order.
    label_ids: Vec<i64>,
    sigmoid: Vec<f32>,
}

impl FastText {
    pub fn read(r: &mut impl Read) -> Result<FastText, ModelError> {
        if read_i32(r)? != MAGIC {
            return Err(ModelError::Unsupported("bad magic number".into()));
        }
        let version = read_i32(r)?;
        if version != VERSION {
            return Err(ModelError::Unsupported(format!("format version {version}, expected {VERSION}")));
        }
        // Args: dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate t
        let mut args = [0i32; 12];
        for a in &mut args {
            *a = read_i32(r)?;
        }
        let _t = read_f64(r)?;
        let [dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr] = args;
        // loss 4 = one-vs-all (a sigmoid per label), model 3 = supervised.
        if loss != 4 || model != 3 {
            return Err(ModelError::Unsupported(format!("loss {loss} / model {model}: only supervised one-vs-all")));
        }
        let size = read_i32(r)? as usize;
        let nwords = read_i32(r)? as usize;
        let _nlabels = read_i32(r)?;
        let _ntokens = read_i64(r)?;
        let pruneidx_size = read_i64(r)?;
        let mut words = HashMap::with_capacity(size);
        let mut entries = Vec::with_capacity(size);
        let mut label_ids = Vec::new();
        for i in 0..size {
            let word = read_cstring(r)?;
            let _count = read_i64(r)?;
            let is_label = read_u8(r)? == 1;
            if is_label {
                let id = word.strip_prefix(LABEL_PREFIX).and_then(|n| n.parse().ok());
                label_ids.push(id.ok_or_else(|| ModelError::Unsupported(format!("label {word:?} is not numeric")))?);
            }
            entries.push(Entry { is_label });
            words.insert(word, i);
        }
        let pruned = if pruneidx_size >= 0 {
            let mut map = HashMap::with_capacity(pruneidx_size as usize);
            for _ in 0..pruneidx_size {
                let (from, to) = (read_i32(r)?, read_i32(r)?);
                map.insert(from, to);
            }
            Some(map)
        } else {
            None
        };
        if read_u8(r)? == 0 {
            return Err(ModelError::Unsupported("the input matrix is not quantized (.bin, not .ftz)".into()));
        }
        let input = QuantMatrix::read(r)?;
        if read_u8(r)? != 0 {
            return Err(ModelError::Unsupported("a quantized output matrix".into()));
        }
        let rows = read_i64(r)? as usize;
        let cols = read_i64(r)? as usize;
        if cols != dim as usize || rows != label_ids.len() {
            return Err(ModelError::Unsupported(format!("output matrix {rows}×{cols}")));
        }
        let output = read_f32s(r, rows * cols)?;
        if !words.contains_key(EOS) {
            return Err(ModelError::Unsupported("no end-of-sentence token".into()));
        }
        let sigmoid = (0..=SIGMOID_TABLE_SIZE)
            .map(|i| {
                let x = (i * 2 * MAX_SIGMOID as usize) as f32 / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
                (1.0 / (1.0 + f64::from((-x).exp()))) as f32
            })
            .collect();
        Ok(FastText {
            dim: dim as usize,
            word_ngrams: word_ngrams as usize,
            bucket: bucket as u32,
            minn: minn as usize,
            maxn: maxn as usize,
            nwords,
            words,
            entries,
            pruned,
            input,
            output,
            label_ids,
            sigmoid,
        })
    }

    pub fn label_ids(&self) -> &[i64] {
        &self.label_ids
    }

    /// The probability of every label, in model order, as Python's
    /// `predict(text, k=all)` returns them (the line gets its newline, so
    /// the end-of-sentence token is always an input).
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        let ids = self.input_ids(text);
        let mut hidden = vec![0f32; self.dim];
        for &id in &ids {
            self.input.add_row_to(&mut hidden, id);
        }
        let scale = (1.0 / ids.len() as f64) as f32;
        for h in &mut hidden {
            *h *= scale;
        }
        self.output
            .chunks_exact(self.dim)
            .map(|row| {
                let mut dot = 0f32;
                for (w, h) in row.iter().zip(&hidden) {
                    dot += w * h;
                }
                let log = (f64::from(self.sigmoid_of(dot)) + 1e-5).ln() as f32;
                log.exp()
            })
            .collect()
    }

    fn sigmoid_of(&self, x: f32) -> f32 {
        if x < -MAX_SIGMOID {
            0.0
        } else if x > MAX_SIGMOID {
            1.0
        } else {
            let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as usize;
            self.sigmoid[i]
        }
    }

    /// Dictionary::getLine: the rows of the words, their character n-grams
    /// and the word n-grams.
    fn input_ids(&self, text: &str) -> Vec<usize> {
        let mut ids = Vec::new();
        let mut hashes: Vec<i32> = Vec::new();
        let tokens = text
            .as_bytes()
            .split(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0B | 0x0C | 0))
            .filter(|t| !t.is_empty())
            .chain(std::iter::once(EOS.as_bytes()));
        for token in tokens {
            // Tokens are cut at ASCII bytes, so they stay valid UTF-8.
            let token = std::str::from_utf8(token).expect("cut at ASCII bytes");
            let wid = self.words.get(token).copied();
            let is_label = match wid {
                Some(w) => self.entries[w].is_label,
                None => token.starts_with(LABEL_PREFIX),
            };
            if is_label {
                continue;
            }
            match wid {
                Some(w) => {
                    ids.push(w);
                    if token != EOS {
                        self.char_ngrams(token, &mut ids);
                    }
                }
                None if token != EOS => self.char_ngrams(token, &mut ids),
                None => {}
            }
            hashes.push(hash(token.as_bytes()) as i32);
        }
        for i in 0..hashes.len() {
            // int32 → uint64 sign-extends, as in C++.
            let mut h = hashes[i] as i64 as u64;
            for &next in hashes.iter().take((i + self.word_ngrams).min(hashes.len())).skip(i + 1) {
                h = h.wrapping_mul(116_049_371).wrapping_add(next as i64 as u64);
                self.push_bucket((h % u64::from(self.bucket)) as i32, &mut ids);
            }
        }
        ids
    }

    /// Dictionary::computeSubwords on `<token>`, on UTF-8 character boundaries.
    fn char_ngrams(&self, token: &str, ids: &mut Vec<usize>) {
        let word = format!("{BOW}{token}{EOW}");
        let bytes = word.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] & 0xC0 == 0x80 {
                continue;
            }
            let mut j = i;
            let mut n = 1;
            while j < bytes.len() && n <= self.maxn {
                j += 1;
                while j < bytes.len() && bytes[j] & 0xC0 == 0x80 {
                    j += 1;
                }
                if n >= self.minn && !(n == 1 && (i == 0 || j == bytes.len())) {
                    self.push_bucket((hash(&bytes[i..j]) % self.bucket) as i32, ids);
                }
                n += 1;
            }
        }
    }

    /// Dictionary::pushHash.
    fn push_bucket(&self, bucket: i32, ids: &mut Vec<usize>) {
        let row = match &self.pruned {
            Some(map) if map.is_empty() => return,
            Some(map) => match map.get(&bucket) {
                Some(&row) => row,
                None => return,
            },
            None => bucket,
        };
        ids.push(self.nwords + row as usize);
    }
}

/// FNV-1a over the bytes taken as signed chars.
fn hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

fn read_bytes(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_i32(r: &mut impl Read) -> io::Result<i32> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

fn read_i64(r: &mut impl Read) -> io::Result<i64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(i64::from_le_bytes(b))
}

fn read_f64(r: &mut impl Read) -> io::Result<f64> {
    let mut b = [0; 8];
    r.read_exact(&mut b)?;
    Ok(f64::from_le_bytes(b))
}

fn read_f32s(r: &mut impl Read, n: usize) -> io::Result<Vec<f32>> {
    let bytes = read_bytes(r, n * 4)?;
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn read_cstring(r: &mut impl Read) -> Result<String, ModelError> {
    let mut bytes = Vec::new();
    loop {
        match read_u8(r)? {
            0 => break,
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| ModelError::Unsupported("a word is not UTF-8".into()))
}
