use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::CoreError;

/// A job's identifier: a random (v4) UUID, unguessable so that ids alone grant nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(uuid::Uuid);

impl JobId {
    /// A new job id: a UUIDv7, time-ordered (48 bits of milliseconds, 74 random bits), so that
    /// a new job's id lands at the end of every index keyed by it rather than on a random page
    /// of a large one (docs/PERFORMANCE.md, [G]). The creation time it carries is the job's
    /// `created_at`, which its owner sees anyway.
    pub fn new_random() -> Self {
        JobId(uuid::Uuid::now_v7())
    }
    pub fn from_bytes(b: [u8; 16]) -> Self {
        JobId(uuid::Uuid::from_bytes(b))
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}
impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}
impl FromStr for JobId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        // Only the canonical hyphenated lowercase form: one spelling per job.
        if s.len() != 36
            || !s
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
        {
            return Err(CoreError::Invalid { what: "job id" });
        }
        uuid::Uuid::try_parse(s)
            .map(JobId)
            .map_err(|_| CoreError::Invalid { what: "job id" })
    }
}

/// A program's identifier: SHA-256 of the WebAssembly module bytes (the seed's "Image ID").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgramId(pub [u8; 32]);

impl ProgramId {
    pub fn of_module(module: &[u8]) -> Self {
        ProgramId(Sha256::digest(module).into())
    }
}
impl fmt::Display for ProgramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for ProgramId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProgramId({self})")
    }
}
impl FromStr for ProgramId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        parse_hex32(s, "program id").map(ProgramId)
    }
}

/// Identifies a pool encryption key: the first 8 bytes of SHA-256(public key), as 16 hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn of_public_key(pk: &[u8]) -> Self {
        let d = Sha256::digest(pk);
        KeyId(hex::encode(&d[..8]))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}
impl FromStr for KeyId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        if s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(CoreError::Invalid { what: "key id" })
        }
    }
}

/// A tenant: the owner of jobs. Tenants never see each other's jobs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TenantId(pub i64);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl TenantId {
    /// Whether `name` is a valid tenant name: 1–64 characters of `[A-Za-z0-9._-]`.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    }
}

/// A worker's name as shown in status and receipts: printable ASCII, at most 64 bytes.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct WorkerId(String);

impl WorkerId {
    pub fn new(s: impl Into<String>) -> Result<Self, CoreError> {
        let s = s.into();
        if s.is_empty()
            || s.len() > 64
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b))
        {
            return Err(CoreError::Invalid { what: "worker id" });
        }
        Ok(WorkerId(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 64 lowercase hex digits (the one spelling: uppercase is refused, never normalised).
pub(crate) fn parse_hex32(s: &str, what: &'static str) -> Result<[u8; 32], CoreError> {
    hex_array(s).ok_or(CoreError::Invalid { what })
}

/// Bytes from lowercase hex: every hex value Vesper reads from the network has this one
/// spelling (uppercase is refused, never normalised). `None` for anything else.
pub fn hex_lower(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(s).ok()
}

/// Exactly `N` bytes from `2N` lowercase hex digits (see [`hex_lower`]).
pub fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    hex_lower(s)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_id_round_trips_and_rejects_other_spellings() {
        let id = JobId::new_random();
        assert_eq!(id.to_string().parse::<JobId>().unwrap(), id);
        assert!(id.to_string().replace('-', "").parse::<JobId>().is_err());
        assert!(id.to_string().to_uppercase().parse::<JobId>().is_err());
        assert!("not-a-uuid".parse::<JobId>().is_err());
    }

    #[test]
    fn program_id_is_sha256_of_module() {
        let p = ProgramId::of_module(b"abc");
        assert_eq!(
            p.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(p.to_string().parse::<ProgramId>().unwrap(), p);
        assert!("zz".parse::<ProgramId>().is_err());
        // One spelling: uppercase hex is refused, not normalised.
        assert!(p.to_string().to_uppercase().parse::<ProgramId>().is_err());
    }

    #[test]
    fn hex_has_one_spelling() {
        assert_eq!(hex_array::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(hex_array::<2>("0AFF"), None);
        assert_eq!(hex_array::<2>("0aff00"), None);
        assert_eq!(hex_lower("abc"), None);
        assert_eq!(hex_lower(""), Some(vec![]));
    }

    #[test]
    fn key_id_is_lowercase_hex_16() {
        let k = KeyId::of_public_key(&[7u8; 32]);
        assert_eq!(k.as_str().len(), 16);
        assert_eq!(k.as_str().parse::<KeyId>().unwrap(), k);
        assert!("ABCDEF0123456789".parse::<KeyId>().is_err());
    }

    #[test]
    fn worker_id_validation() {
        assert!(WorkerId::new("w-1/abc").is_ok());
        assert!(WorkerId::new("").is_err());
        assert!(WorkerId::new("a b").is_err());
        assert!(WorkerId::new("x".repeat(65)).is_err());
    }
}
