//! Bounded line reading: a line is returned with at most `max` of its bytes
//! kept, plus its full length and sha256, so a 10 MB line costs no memory.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

pub(crate) struct Line {
    /// The line without its `\n` (and `\r`), at most `max` bytes.
    pub bytes: Vec<u8>,
    /// Full length of the line without the terminator.
    pub length: u64,
    /// sha256 of the whole line when it was longer than `max`.
    pub oversized_sha256: Option<String>,
    /// Bytes consumed including the terminator.
    pub consumed: u64,
}

pub(crate) enum ReadLine {
    Line(Line),
    /// Nothing complete before `limit` / end of file (an unterminated line may be waiting).
    End,
}

/// What a line reader reads: an opened file (in tests, one that fails on cue).
pub(crate) trait Input: Read + Seek + Send {}

impl<T: Read + Seek + Send> Input for T {}

pub(crate) struct LineReader {
    reader: BufReader<Box<dyn Input>>,
    position: u64,
}

impl LineReader {
    pub fn open(input: Box<dyn Input>, position: u64) -> std::io::Result<Self> {
        let mut reader = BufReader::with_capacity(256 * 1024, input);
        reader.seek(SeekFrom::Start(position))?;
        Ok(LineReader { reader, position })
    }

    /// Reads the next line ending before `limit`. A final unterminated line is
    /// returned only when `accept_unterminated` (the file is complete).
    pub fn next_line(&mut self, max: usize, limit: u64, accept_unterminated: bool) -> std::io::Result<ReadLine> {
        let start = self.position;
        let mut kept = Vec::new();
        let mut length = 0u64;
        let mut hasher: Option<Sha256> = None;
        loop {
            let remaining = limit.saturating_sub(start + length);
            let buf = self.reader.fill_buf()?;
            let window = &buf[..buf.len().min(remaining as usize)];
            if window.is_empty() {
                if length == 0 {
                    return Ok(ReadLine::End);
                }
                if !accept_unterminated {
                    // Leave the partial line for a later read.
                    self.reader.seek(SeekFrom::Start(start))?;
                    return Ok(ReadLine::End);
                }
                self.position = start + length;
                return Ok(ReadLine::Line(finish(kept, length, hasher, length)));
            }
            let (chunk, found) = match memchr(window) {
                Some(i) => (&window[..i], true),
                None => (window, false),
            };
            let room = max.saturating_sub(kept.len());
            if chunk.len() > room && hasher.is_none() {
                let mut h = Sha256::new();
                h.update(&kept);
                hasher = Some(h);
            }
            if let Some(h) = hasher.as_mut() {
                h.update(chunk);
            }
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            length += chunk.len() as u64;
            let used = chunk.len() + usize::from(found);
            self.reader.consume(used);
            if found {
                self.position = start + length + 1;
                return Ok(ReadLine::Line(finish(kept, length, hasher, length + 1)));
            }
        }
    }
}

fn finish(mut kept: Vec<u8>, length: u64, hasher: Option<Sha256>, consumed: u64) -> Line {
    if hasher.is_none() && kept.last() == Some(&b'\r') {
        kept.pop();
    }
    Line { bytes: kept, length, oversized_sha256: hasher.map(|h| hex_string(&h.finalize())), consumed }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
