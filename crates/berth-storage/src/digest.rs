//! Digests: the hashing reader behind diff ids, chain ids, and id validation.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// A `Read` wrapper that feeds every byte it passes on into sha256 and counts them.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Read the stream to its end (still hashing), then return ("sha256:<hex>", byte count).
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The lowercase hex part of a well-formed `sha256:<64 hex>` digest.
pub(crate) fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

/// OCI chain id: the diff id for a base layer, else sha256(parent_chain_id + " " + diff_id).
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => {
            let mut h = Sha256::new();
            h.update(p.as_bytes());
            h.update(b" ");
            h.update(diff_id.as_bytes());
            format!("sha256:{}", hex::encode(h.finalize()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reader_hashes_and_counts_everything() {
        let data = b"hello world".to_vec();
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 5];
        r.read_exact(&mut first).unwrap();
        let (digest, size) = r.finish().unwrap();
        assert_eq!(size, 11);
        assert_eq!(
            digest,
            "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }

    #[test]
    fn chain_id_follows_oci_definition() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        assert_eq!(chain_id(None, &a), a);
        let expected = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{a} {b}").as_bytes()))
        );
        assert_eq!(chain_id(Some(&a), &b), expected);
    }

    #[test]
    fn sha256_hex_validates() {
        assert!(sha256_hex(&format!("sha256:{}", "0f".repeat(32))).is_some());
        assert!(sha256_hex(&format!("sha256:{}", "0F".repeat(32))).is_none());
        assert!(sha256_hex("sha256:abc").is_none());
        assert!(sha256_hex(&format!("sha512:{}", "0".repeat(64))).is_none());
        assert!(sha256_hex(&format!("sha256:{}/..", "0".repeat(62))).is_none());
    }
}
