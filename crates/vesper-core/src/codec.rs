//! Byte-exact plaintext formats that travel inside HPKE envelopes (docs/ENVELOPE.md).
//! All integers are big-endian. Decoders reject trailing bytes and enforce size limits.

use crate::{CoreError, limits};

const WORKLOAD_MAGIC: &[u8; 4] = b"VWL1";
const RESULT_MAGIC: &[u8; 4] = b"VRS1";

/// Where the program of a workload comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum WorkloadProgram {
    /// The module is in the registry under the job's public `program_id`.
    Registry,
    /// The module travels encrypted inside the payload (a secret program).
    Inline(Vec<u8>),
}

/// What the client encrypts: the program reference (or module) and the input (stdin).
#[derive(Clone, PartialEq, Eq)]
pub struct WorkloadPlaintext {
    pub program: WorkloadProgram,
    pub input: Vec<u8>,
}

impl std::fmt::Debug for WorkloadPlaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkloadPlaintext(<redacted>)")
    }
}

impl WorkloadPlaintext {
    pub fn encode(&self) -> Vec<u8> {
        let module_len = match &self.program {
            WorkloadProgram::Inline(m) => 4 + m.len(),
            WorkloadProgram::Registry => 0,
        };
        let mut out = Vec::with_capacity(4 + 1 + module_len + 4 + self.input.len());
        out.extend_from_slice(WORKLOAD_MAGIC);
        match &self.program {
            WorkloadProgram::Registry => out.push(0),
            WorkloadProgram::Inline(m) => {
                out.push(1);
                put_bytes(&mut out, m);
            }
        }
        put_bytes(&mut out, &self.input);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CoreError> {
        let mut r = Reader::new(bytes, "workload");
        r.magic(WORKLOAD_MAGIC)?;
        let program = match r.u8()? {
            0 => WorkloadProgram::Registry,
            1 => WorkloadProgram::Inline(
                r.bytes(limits::MAX_MODULE_BYTES, "inline module")?.to_vec(),
            ),
            _ => {
                return Err(CoreError::Invalid {
                    what: "program kind",
                });
            }
        };
        let input = r.bytes(limits::MAX_INPUT_BYTES, "input")?.to_vec();
        r.finish()?;
        Ok(WorkloadPlaintext { program, input })
    }
}

/// What the worker seals to the client: salt, exit code, stdout, stderr.
#[derive(Clone, PartialEq, Eq)]
pub struct ResultPlaintext {
    /// Random per result; makes `result_hash` unguessable for small outputs.
    pub salt: [u8; 32],
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl std::fmt::Debug for ResultPlaintext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResultPlaintext(<redacted>)")
    }
}

impl ResultPlaintext {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 32 + 4 + 8 + self.stdout.len() + self.stderr.len());
        out.extend_from_slice(RESULT_MAGIC);
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.exit_code.to_be_bytes());
        put_bytes(&mut out, &self.stdout);
        put_bytes(&mut out, &self.stderr);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CoreError> {
        let mut r = Reader::new(bytes, "result");
        r.magic(RESULT_MAGIC)?;
        let salt: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
        let exit_code = i32::from_be_bytes(r.take(4)?.try_into().expect("4 bytes"));
        let stdout = r.bytes(u32::MAX as usize, "stdout")?.to_vec();
        let stderr = r.bytes(u32::MAX as usize, "stderr")?.to_vec();
        r.finish()?;
        Ok(ResultPlaintext {
            salt,
            exit_code,
            stdout,
            stderr,
        })
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).expect("field larger than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

/// A bounds-checked cursor shared by the decoders in this crate.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CoreError> {
        if self.buf.len() < n {
            return Err(CoreError::Truncated { what: self.what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, CoreError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u64(&mut self) -> Result<u64, CoreError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    pub(crate) fn array32(&mut self) -> Result<[u8; 32], CoreError> {
        Ok(self.take(32)?.try_into().expect("32"))
    }
    fn magic(&mut self, m: &[u8; 4]) -> Result<(), CoreError> {
        if self.take(4)? != m {
            return Err(CoreError::BadMagic { what: self.what });
        }
        Ok(())
    }
    fn bytes(&mut self, limit: usize, what: &'static str) -> Result<&'a [u8], CoreError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4")) as usize;
        if len > limit {
            return Err(CoreError::TooLarge { what, limit });
        }
        self.take(len)
    }
    pub(crate) fn short_str(&mut self) -> Result<&'a str, CoreError> {
        let len = self.u8()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| CoreError::Invalid { what: self.what })
    }
    pub(crate) fn finish(self) -> Result<(), CoreError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Invalid { what: self.what })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_round_trip_and_exact_bytes() {
        let w = WorkloadPlaintext {
            program: WorkloadProgram::Registry,
            input: b"hi".to_vec(),
        };
        let enc = w.encode();
        assert_eq!(enc, b"VWL1\x00\x00\x00\x00\x02hi");
        assert_eq!(WorkloadPlaintext::decode(&enc).unwrap(), w);

        let w2 = WorkloadPlaintext {
            program: WorkloadProgram::Inline(vec![0, 0x61, 0x73, 0x6d]),
            input: vec![],
        };
        let enc2 = w2.encode();
        assert_eq!(enc2, b"VWL1\x01\x00\x00\x00\x04\x00asm\x00\x00\x00\x00");
        assert_eq!(WorkloadPlaintext::decode(&enc2).unwrap(), w2);
    }

    #[test]
    fn workload_decode_rejects_garbage() {
        assert!(WorkloadPlaintext::decode(b"").is_err());
        assert!(WorkloadPlaintext::decode(b"VWL2\x00\x00\x00\x00\x00").is_err());
        assert!(WorkloadPlaintext::decode(b"VWL1\x07\x00\x00\x00\x00").is_err());
        // Length says 5, only 2 bytes follow.
        assert!(WorkloadPlaintext::decode(b"VWL1\x00\x00\x00\x00\x05hi").is_err());
        // Trailing byte.
        assert!(WorkloadPlaintext::decode(b"VWL1\x00\x00\x00\x00\x00!").is_err());
        // Inline module over the limit is refused before allocation.
        let mut big = b"VWL1\x01".to_vec();
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            WorkloadPlaintext::decode(&big),
            Err(CoreError::TooLarge { .. })
        ));
    }

    #[test]
    fn result_round_trip() {
        let r = ResultPlaintext {
            salt: [9; 32],
            exit_code: -3,
            stdout: b"out".to_vec(),
            stderr: b"err".to_vec(),
        };
        let enc = r.encode();
        assert_eq!(&enc[..4], b"VRS1");
        assert_eq!(ResultPlaintext::decode(&enc).unwrap(), r);
        assert!(ResultPlaintext::decode(&enc[..enc.len() - 1]).is_err());
    }

    #[test]
    fn debug_never_prints_contents() {
        let w = WorkloadPlaintext {
            program: WorkloadProgram::Registry,
            input: b"SECRET".to_vec(),
        };
        assert!(!format!("{w:?}").contains("SECRET"));
    }
}
