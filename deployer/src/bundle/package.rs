//! The deployment package: a zip with one `bootstrap` entry, byte for byte
//! the same for the same binary, named by its SHA-256 so an unchanged
//! function keeps its key (and CloudFormation sees no change).

use std::io::{Cursor, Read, Write};

use anyhow::Context;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// The file Lambda's `provided.*` runtimes execute.
pub const BOOTSTRAP: &str = "bootstrap";

/// Zips `binary` as an executable `bootstrap`. Deterministic: fixed
/// timestamp (1980-01-01, the zip epoch), fixed mode, fixed compression level,
/// no extra fields.
pub fn zip_bootstrap(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        // 9 is flate2's best; higher levels switch to zopfli, minutes slower.
        .compression_level(Some(9))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file(BOOTSTRAP, options)
        .context("cannot start the bootstrap entry")?;
    writer
        .write_all(binary)
        .context("cannot compress the bootstrap")?;
    let cursor = writer.finish().context("cannot finish the zip")?;
    Ok(cursor.into_inner())
}

/// The `bootstrap` of a package and its Unix mode, for checks and tests.
pub fn read_bootstrap(zip: &[u8]) -> anyhow::Result<(Vec<u8>, Option<u32>)> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).context("not a zip")?;
    anyhow::ensure!(
        archive.len() == 1,
        "expected one entry, found {}",
        archive.len()
    );
    let mut entry = archive
        .by_name(BOOTSTRAP)
        .context("no bootstrap entry in the zip")?;
    let mode = entry.unix_mode();
    let mut binary = Vec::new();
    entry
        .read_to_end(&mut binary)
        .context("cannot decompress the bootstrap")?;
    Ok((binary, mode))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zip_is_deterministic_and_holds_an_executable_bootstrap() {
        let binary: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let first = zip_bootstrap(&binary).expect("zip");
        let second = zip_bootstrap(&binary).expect("zip again");
        assert_eq!(first, second);
        assert!(first.len() < binary.len(), "compressed");
        let (unzipped, mode) = read_bootstrap(&first).expect("unzip");
        assert_eq!(unzipped, binary);
        assert_eq!(mode.map(|m| m & 0o777), Some(0o755));

        let mut archive = ZipArchive::new(Cursor::new(&first)).expect("zip");
        let entry = archive.by_index(0).expect("entry");
        assert_eq!(entry.last_modified(), Some(DateTime::default()));
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
    }

    #[test]
    fn sha256_is_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
