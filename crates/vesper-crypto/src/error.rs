use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CryptoError {
    #[error("malformed {what}")]
    Malformed { what: &'static str },
    #[error("envelope could not be opened")]
    OpenFailed,
    #[error("sealing failed")]
    SealFailed,
    #[error("signature verification failed")]
    BadSignature,
    #[error("wrong signature length")]
    SignatureLength { expected: usize, actual: usize },
    #[error("key file i/o error")]
    KeyFileIo {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file permissions are too open (want 0600)")]
    KeyFilePermissions { path: std::path::PathBuf, mode: u32 },
    #[error("key file has the wrong kind")]
    KeyFileKind {
        path: std::path::PathBuf,
        expected: &'static str,
    },
}
