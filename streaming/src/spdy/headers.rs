//! SPDY/3 header blocks: name/value pairs, zlib-compressed with the SPDY
//! dictionary. Each direction of a connection is ONE zlib stream (every block
//! ends with a sync flush), so the compressor and the decompressor live as long
//! as the connection and every block must pass through them in order.

use super::dictionary::HEADER_DICTIONARY;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Header names (lower case) and their values, in order.
pub type HeaderList = Vec<(String, String)>;

/// A header block that does not decompress or parse.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("header block decompression: {0}")]
    Inflate(String),
    #[error("header block compression: {0}")]
    Deflate(String),
    #[error("malformed header block")]
    Malformed,
    #[error("header block larger than {0} bytes")]
    TooLarge(usize),
}

/// Limit on one decompressed header block (remotecommand headers are tiny).
const MAX_BLOCK: usize = 1 << 20;

/// Looks up the first value of `name` (values of one name are NUL-separated
/// on the wire; we keep them joined, as SPDY does).
pub fn get<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or(v.as_str()))
}

/// The sending side's zlib stream.
pub struct Compressor {
    zlib: Compress,
    primed: bool,
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Compressor {
    pub fn new() -> Self {
        Self {
            zlib: Compress::new(Compression::default(), true),
            primed: false,
        }
    }

    /// Encodes and compresses one header block.
    pub fn compress(&mut self, headers: &[(String, String)]) -> Result<Bytes, HeaderError> {
        if !self.primed {
            self.zlib
                .set_dictionary(HEADER_DICTIONARY)
                .map_err(|e| HeaderError::Deflate(e.to_string()))?;
            self.primed = true;
        }
        let mut plain = BytesMut::new();
        plain.put_u32(headers.len() as u32);
        for (name, value) in headers {
            plain.put_u32(name.len() as u32);
            plain.put_slice(name.to_ascii_lowercase().as_bytes());
            plain.put_u32(value.len() as u32);
            plain.put_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut input: &[u8] = &plain;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let before_in = self.zlib.total_in();
            self.zlib
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|e| HeaderError::Deflate(e.to_string()))?;
            let used = (self.zlib.total_in() - before_in) as usize;
            input = &input[used..];
            // A sync flush is complete when input is consumed and space remains.
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        Ok(Bytes::from(out))
    }
}

/// The receiving side's zlib stream.
pub struct Decompressor {
    zlib: Decompress,
}

impl Default for Decompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Decompressor {
    pub fn new() -> Self {
        Self {
            zlib: Decompress::new(true),
        }
    }

    /// Decompresses and parses one header block.
    pub fn decompress(&mut self, block: &[u8]) -> Result<HeaderList, HeaderError> {
        let mut out: Vec<u8> = Vec::with_capacity(block.len() * 4 + 64);
        let mut input = block;
        loop {
            if out.capacity() - out.len() < 256 {
                if out.len() >= MAX_BLOCK {
                    return Err(HeaderError::TooLarge(MAX_BLOCK));
                }
                out.reserve(out.capacity());
            }
            let before_in = self.zlib.total_in();
            let result = self
                .zlib
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.zlib.total_in() - before_in) as usize;
            input = &input[used..];
            match result {
                Ok(Status::Ok) | Ok(Status::BufError) => {
                    if input.is_empty() && out.capacity() > out.len() {
                        break;
                    }
                }
                Ok(Status::StreamEnd) => break,
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib
                        .set_dictionary(HEADER_DICTIONARY)
                        .map_err(|e| HeaderError::Inflate(e.to_string()))?;
                }
                Err(e) => return Err(HeaderError::Inflate(e.to_string())),
            }
        }
        parse(&out)
    }
}

fn parse(mut buf: &[u8]) -> Result<HeaderList, HeaderError> {
    fn take<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], HeaderError> {
        if buf.remaining() < 4 {
            return Err(HeaderError::Malformed);
        }
        let n = buf.get_u32() as usize;
        if buf.len() < n {
            return Err(HeaderError::Malformed);
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    }
    if buf.remaining() < 4 {
        return Err(HeaderError::Malformed);
    }
    let count = buf.get_u32() as usize;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let name = String::from_utf8_lossy(take(&mut buf)?).to_ascii_lowercase();
        let value = String::from_utf8_lossy(take(&mut buf)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderList {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn blocks_round_trip_across_one_zlib_stream() {
        let mut c = Compressor::new();
        let mut d = Decompressor::new();
        for i in 0..5 {
            let headers = h(&[("streamtype", "stdout"), ("requestid", &i.to_string())]);
            let block = c.compress(&headers).unwrap();
            assert_eq!(d.decompress(&block).unwrap(), headers);
        }
    }

    #[test]
    fn block_needs_the_spdy_dictionary_and_flate2_decodes_it_with_it() {
        let headers = h(&[("streamtype", "error"), ("port", "8080")]);
        let block = Compressor::new().compress(&headers).unwrap();
        // Independently of our decompressor: plain flate2 must be asked for the
        // dictionary, and decode the block once given it.
        let mut z = Decompress::new(true);
        let mut out = Vec::with_capacity(4096);
        let err = z
            .decompress_vec(&block, &mut out, FlushDecompress::Sync)
            .unwrap_err();
        assert!(err.needs_dictionary().is_some());
        z.set_dictionary(HEADER_DICTIONARY).unwrap();
        let consumed = z.total_in() as usize;
        z.decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(parse(&out).unwrap(), headers);
        assert_eq!(HEADER_DICTIONARY.len(), 1423);
    }

    #[test]
    fn get_is_case_insensitive_and_takes_the_first_value() {
        let headers = h(&[("StreamType", "stdin\0other")]);
        assert_eq!(get(&headers, "streamtype"), Some("stdin"));
        assert_eq!(get(&headers, "port"), None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Decompressor::new().decompress(b"not zlib").is_err());
    }
}
