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
    /// A hand-in's receipt misstates the job (docs/RECEIPT.md §6); nothing was stored and the
    /// lease still holds.
    #[error("receipt misstates the job's {field}")]
    BadReceipt {
        job_id: vesper_core::JobId,
        field: vesper_core::ReceiptField,
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
    /// The embedded store's disk is full (SQLite `SQLITE_FULL`): nothing was written.
    #[error("no space left on the store's disk")]
    NoSpace,
    #[error("database error: {0}")]
    Database(rusqlite::Error),
    #[error("redis error: {0}")]
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

impl From<rusqlite::Error> for StoreError {
    /// A full disk is named as such (operators act on it); other SQLite errors keep theirs.
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::NoSpace
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// Whether the store could not do its work for a reason that may pass (the caller may
    /// retry): unreachable, full, or failing underneath.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable
                | StoreError::NoSpace
                | StoreError::Database(_)
                | StoreError::Redis(_)
        )
    }
}
