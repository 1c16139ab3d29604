//! Content digests (`sha256:<hex>`) of bytes and files.

use sha2::{Digest as _, Sha256, Sha384, Sha512};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A digest split into its algorithm and lowercase hex, validated so that it is safe to
/// use as a file name (`blobs/<algorithm>/<hex>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedDigest<'a> {
    pub algorithm: &'a str,
    pub hex: &'a str,
}

/// Parses `sha256:<64 hex>` (also sha384 and sha512), as the OCI spec's registered
/// algorithms; anything else is `None`.
pub(crate) fn parse_digest(digest: &str) -> Option<ParsedDigest<'_>> {
    let (algorithm, hex) = digest.split_once(':')?;
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    };
    let lower_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    (hex.len() == len && hex.bytes().all(lower_hex)).then_some(ParsedDigest { algorithm, hex })
}

/// Computes the digest of `reader` with `algorithm` (sha256, sha384, sha512) and
/// returns it with the number of bytes read.
pub(crate) fn digest_reader(algorithm: &str, reader: &mut impl Read) -> io::Result<(String, u64)> {
    fn run<D: sha2::Digest + io::Write>(
        mut hasher: D,
        algorithm: &str,
        reader: &mut impl Read,
    ) -> io::Result<(String, u64)> {
        let n = io::copy(reader, &mut hasher)?;
        Ok((format!("{algorithm}:{}", hex::encode(hasher.finalize())), n))
    }
    match algorithm {
        "sha384" => run(Sha384::new(), algorithm, reader),
        "sha512" => run(Sha512::new(), algorithm, reader),
        _ => run(Sha256::new(), "sha256", reader),
    }
}

/// Digest (with `algorithm`) and size of the file at `path`.
pub(crate) fn digest_file(algorithm: &str, path: &Path) -> io::Result<(String, u64)> {
    let mut file = io::BufReader::with_capacity(1 << 16, File::open(path)?);
    digest_reader(algorithm, &mut file)
}

/// Digest of in-memory bytes with `algorithm`.
pub(crate) fn digest_bytes(algorithm: &str, bytes: &[u8]) -> String {
    match algorithm {
        "sha384" => format!("sha384:{}", hex::encode(Sha384::digest(bytes))),
        "sha512" => format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
        _ => sha256_digest(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_digests() {
        let hex = "a".repeat(64);
        let ok = format!("sha256:{hex}");
        assert_eq!(parse_digest(&ok).unwrap().hex, hex);
        assert!(parse_digest(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(parse_digest("sha256:../../etc/passwd").is_none());
        assert!(parse_digest(&format!("md5:{hex}")).is_none());
        assert!(parse_digest(&hex).is_none());
    }

    #[test]
    fn sha256_of_empty() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let (d, n) = digest_reader("sha256", &mut &b""[..]).unwrap();
        assert_eq!((d.as_str(), n), (sha256_digest(b"").as_str(), 0));
    }
}
