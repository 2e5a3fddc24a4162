use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease named is no longer held (expired and re-leased, or job finished).
    #[error("lease is no longer held")]
    Fenced {
        job_id: vesper_core::JobId,
        epoch: u64,
    },
    #[error("job not found")]
    NotFound { job_id: vesper_core::JobId },
    #[error("tenant name already exists")]
    TenantExists,
    #[error("no such tenant")]
    TenantNotFound,
    #[error("credential already registered")]
    CredentialExists,
    /// The backend cannot serve requests (stopped, disk error, connection lost).
    #[error("store unavailable")]
    Unavailable,
    #[error("database error")]
    Database(#[from] rusqlite::Error),
    #[error("redis error")]
    Redis(#[from] redis::RedisError),
    /// The store's configuration (URL, namespace) is not usable.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("corrupt row in {table}")]
    Corrupt { table: &'static str },
    /// A remote job source (a gateway serving `/vesper/jobs/1`) refused the request; the code
    /// is the protocol's `error` code.
    #[error("refused by the gateway: {0}")]
    Refused(String),
}
