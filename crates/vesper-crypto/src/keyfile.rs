//! Key files: one line `vesper-<kind>:<hex>\n`, created 0600, refused if group/world-readable.

use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::CryptoError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// An X25519 secret (client key or pool key).
    X25519Secret,
    /// An Ed25519 secret seed (worker or gateway identity).
    Ed25519Secret,
    /// An API key (a bearer token).
    ApiKey,
}

impl KeyKind {
    fn label(self) -> &'static str {
        match self {
            KeyKind::X25519Secret => "vesper-x25519-secret",
            KeyKind::Ed25519Secret => "vesper-ed25519-secret",
            KeyKind::ApiKey => "vesper-api-key",
        }
    }
}

/// Write a secret atomically (temp file + rename) with mode 0600. Never overwrites a
/// different existing key unless `overwrite` is set.
pub fn write_key_file(
    path: &Path,
    kind: KeyKind,
    secret: &[u8],
    overwrite: bool,
) -> Result<(), CryptoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CryptoError::KeyFileIo {
        path: path.to_owned(),
        source,
    };
    if !overwrite && path.exists() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "key file exists",
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let body = Zeroizing::new(match kind {
        KeyKind::ApiKey => format!("{}:{}\n", kind.label(), String::from_utf8_lossy(secret)),
        _ => format!("{}:{}\n", kind.label(), hex::encode(secret)),
    });
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(body.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Read a secret written by [`write_key_file`].
pub fn read_key_file(path: &Path, kind: KeyKind) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| CryptoError::KeyFileIo {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::KeyFilePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let wrong = || CryptoError::KeyFileKind {
        path: path.to_owned(),
        expected: kind.label(),
    };
    let (label, value) = text.trim_end().split_once(':').ok_or_else(wrong)?;
    if label != kind.label() {
        return Err(wrong());
    }
    match kind {
        KeyKind::ApiKey => Ok(Zeroizing::new(value.as_bytes().to_vec())),
        _ => hex::decode(value).map(Zeroizing::new).map_err(|_| wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_mode_0600_and_refuses_open_perms() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/k.key");
        write_key_file(&p, KeyKind::X25519Secret, &[1, 2, 3], false).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            &read_key_file(&p, KeyKind::X25519Secret).unwrap()[..],
            &[1, 2, 3]
        );
        assert!(read_key_file(&p, KeyKind::Ed25519Secret).is_err());
        assert!(write_key_file(&p, KeyKind::X25519Secret, &[9], false).is_err());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_key_file(&p, KeyKind::X25519Secret),
            Err(CryptoError::KeyFilePermissions { .. })
        ));
    }
}
