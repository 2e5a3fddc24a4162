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
    /// A customer id another tenant registered, or an image id already registered.
    #[error("customer id or image id already registered by someone else")]
    DeploymentTaken,
    /// The backend cannot serve requests (stopped, disk error, connection lost).
    #[error("store unavailable")]
    Unavailable,
    /// The embedded store's disk is full (SQLite `SQLITE_FULL`): nothing was written.
    #[error("no space left on the store's disk")]
    NoSpace,
    /// The backend failed underneath (an SQLite or Redis error that is not one of the cases
    /// above). Its error is kept as the source, for logs; callers do not match on it, so the
    /// backend's types stay out of this crate's API.
    #[error("{backend} error: {source}")]
    Backend {
        backend: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store's configuration (URL, namespace) is not usable.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(&'static str),
    #[error("corrupt row in {table}")]
    Corrupt { table: &'static str },
}

impl From<rusqlite::Error> for StoreError {
    /// A full disk is named as such (operators act on it); other SQLite errors keep theirs.
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::NoSpace
            }
            _ => StoreError::Backend {
                backend: "sqlite",
                source: Box::new(e),
            },
        }
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Backend {
            backend: "redis",
            source: Box::new(e),
        }
    }
}

impl StoreError {
    /// Whether the store could not do its work for a reason that may pass (the caller may
    /// retry): unreachable, full, or failing underneath.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable | StoreError::NoSpace | StoreError::Backend { .. }
        )
    }
}
