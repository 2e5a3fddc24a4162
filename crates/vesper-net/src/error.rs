use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NetError {
    #[error("key error")]
    Key(#[from] vesper_crypto::CryptoError),
    #[error("invalid identity key: {0}")]
    InvalidKey(String),
    #[error("not a peer id: {0:?}")]
    InvalidPeerId(String),
    #[error("i/o error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid trust list: {reason}")]
    CorruptTrustList { path: PathBuf, reason: String },
    #[error("peer {0} is already trusted")]
    AlreadyTrusted(String),
    #[error("peer {0} is not trusted")]
    NotTrusted(String),
    #[error("invalid peer name (1-64 printable characters)")]
    InvalidName,
    #[error("transport setup failed: {0}")]
    Transport(String),
    #[error("dial failed: {0}")]
    Dial(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("the network node has stopped")]
    Stopped,
}
