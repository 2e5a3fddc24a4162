use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error("store error")]
    Store(#[from] vesper_store::StoreError),
    #[error("key error")]
    Crypto(#[from] vesper_crypto::CryptoError),
    #[error("executor error")]
    Exec(#[from] vesper_exec::ExecError),
    #[error("i/o error on {path}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("network error")]
    Net(#[from] vesper_net::NetError),
    #[error("{0}")]
    Setup(String),
    /// Another process holds the directory's lock: one node per data directory.
    #[error(
        "{} is locked by another vesper process (pid {}): one node per data directory; stop it or pass another --data",
        lock.display(),
        pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into())
    )]
    InUse {
        lock: std::path::PathBuf,
        pid: Option<u32>,
    },
    #[error("invalid worker id")]
    WorkerId(#[from] vesper_core::CoreError),
}
