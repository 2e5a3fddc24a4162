use thiserror::Error;

/// Errors raised by the pure core: parsing and validation of domain values.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreError {
    #[error("invalid {what}")]
    Invalid { what: &'static str },
    #[error("{what} out of range")]
    OutOfRange {
        what: &'static str,
        min: u64,
        max: u64,
    },
    #[error("unknown workload type")]
    UnknownWorkloadType,
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    #[error("bad magic in {what}")]
    BadMagic { what: &'static str },
    #[error("{what} too large")]
    TooLarge { what: &'static str, limit: usize },
}
