//! Vesper's node-to-node wire format (docs/PROTOCOL.md), after seed `001`: every message is
//!
//! ```text
//! ┌──────────┬──────────────────┬──────────────────────┐
//! │ type (1) │ length (4, BE)   │ JSON payload (length) │
//! └──────────┴──────────────────┴──────────────────────┘
//! ```
//!
//! Pure: bytes in, typed messages out. Every malformed input is a [`WireError`], never a
//! panic; a frame larger than [`MAX_FRAME`] is refused from its header, before its payload is
//! buffered. Transport (libp2p streams, protocol ids) lives in the networking crate.
//!
//! **Invariant:** `decode(encode(m)) == m` for every message; `decode` never reads past the
//! frame it reports.

mod messages;

pub use messages::*;
use thiserror::Error;

/// Largest payload accepted, bytes, for the kinds that carry one (a sealed workload is at most
/// 32 MiB at the gateway, and so is a proving key a worker accepts; their base64 in JSON is a
/// third larger). See [`MessageKind::max_payload`].
pub const MAX_FRAME: usize = 48 * 1024 * 1024;

/// Largest payload of a frame that carries no workload, result, module or proving key (hello,
/// lease request, heartbeat, failure, acks, key messages, program requests, errors, …).
pub const MAX_CONTROL_FRAME: usize = 64 * 1024;

/// Largest proving key a `zk_program` frame carries: a gateway sends none larger and a worker
/// refuses one. With [`MAX_ZK_PROGRAM`] it keeps the frame under [`MAX_FRAME`] whatever the
/// program's JSON escaping.
pub const MAX_ZK_PROVING_KEY: usize = 32 * 1024 * 1024;

/// Largest DSL program text (bytes of UTF-8) a `zk_program` frame carries.
pub const MAX_ZK_PROGRAM: usize = 256 * 1024;

/// Bytes before the payload: type and length.
pub const HEADER_LEN: usize = 5;

/// The protocol id of the job protocol on libp2p streams.
pub const JOBS_PROTOCOL: &str = "/vesper/jobs/1";

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    /// A type reserved for a later protocol (containers, seed 001): known, not yet served.
    #[error("message type 0x{0:02x} is reserved and not supported by this node")]
    Reserved(u8),
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("invalid {kind} payload: {reason}")]
    InvalidPayload { kind: &'static str, reason: String },
}

/// Encode one message as a frame.
pub fn encode(msg: &Message) -> Result<Vec<u8>, WireError> {
    let payload = msg.payload_json().map_err(|e| WireError::InvalidPayload {
        kind: msg.kind().name(),
        reason: e.to_string(),
    })?;
    let max = msg.kind().max_payload();
    if payload.len() > max {
        return Err(WireError::FrameTooLarge {
            len: payload.len(),
            max,
        });
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(msg.kind() as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A whole frame: the message and how many bytes it used.
    Frame(Message, usize),
    /// Not enough bytes yet; at least this many more are needed.
    Incomplete(usize),
}

/// Read the header: the message kind and payload length. Refuses unknown types and oversized
/// frames as soon as the 5 header bytes are there.
pub fn decode_header(buf: &[u8]) -> Result<Option<(MessageKind, usize)>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let kind = MessageKind::from_byte(buf[0])?;
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let max = kind.max_payload();
    if len > max {
        return Err(WireError::FrameTooLarge { len, max });
    }
    Ok(Some((kind, len)))
}

/// Decode the frame at the start of `buf`.
pub fn decode(buf: &[u8]) -> Result<Decoded, WireError> {
    let Some((kind, len)) = decode_header(buf)? else {
        return Ok(Decoded::Incomplete(HEADER_LEN - buf.len()));
    };
    let total = HEADER_LEN + len;
    if buf.len() < total {
        return Ok(Decoded::Incomplete(total - buf.len()));
    }
    let msg = Message::from_payload(kind, &buf[HEADER_LEN..total])?;
    Ok(Decoded::Frame(msg, total))
}
