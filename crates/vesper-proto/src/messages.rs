//! The messages of `/vesper/jobs/1` and the reserved container types. Field names are the
//! JSON keys (docs/PROTOCOL.md); unknown fields are refused, so a typo is an error rather than
//! a silently ignored setting.

use serde::{Deserialize, Serialize};

use crate::WireError;

/// The type byte of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    // Job protocol (worker ⇄ gateway).
    Hello = 0x01,
    Welcome = 0x02,
    LeaseRequest = 0x03,
    Assignment = 0x04,
    NoWork = 0x05,
    Heartbeat = 0x06,
    HeartbeatAck = 0x07,
    Completion = 0x08,
    Failure = 0x09,
    HandInAck = 0x0a,
    ProgramRequest = 0x0b,
    Program = 0x0c,
    KeyRequest = 0x0d,
    KeyGrant = 0x0e,
    Error = 0x0f,
    // Reserved for the container protocol (seed 001), not served yet.
    DeployRequest = 0x10,
    DeployResponse = 0x11,
    StopRequest = 0x12,
    StopResponse = 0x13,
    LogEntry = 0x14,
    StatusRequest = 0x15,
    StatusResponse = 0x16,
    // Job protocol, continued: proof jobs (`zk_proof`).
    ZkProgramRequest = 0x17,
    ZkProgram = 0x18,
}

impl MessageKind {
    /// Largest payload a frame of this kind may announce: [`crate::MAX_FRAME`] for the kinds
    /// that carry a sealed workload, a sealed result, a module or a proving key,
    /// [`crate::MAX_CONTROL_FRAME`] for every other. A receiver refuses a larger one from the
    /// header.
    pub fn max_payload(self) -> usize {
        match self {
            MessageKind::Assignment
            | MessageKind::Completion
            | MessageKind::Program
            | MessageKind::ZkProgram => crate::MAX_FRAME,
            _ => crate::MAX_CONTROL_FRAME,
        }
    }

    pub fn from_byte(b: u8) -> Result<MessageKind, WireError> {
        use MessageKind::*;
        Ok(match b {
            0x01 => Hello,
            0x02 => Welcome,
            0x03 => LeaseRequest,
            0x04 => Assignment,
            0x05 => NoWork,
            0x06 => Heartbeat,
            0x07 => HeartbeatAck,
            0x08 => Completion,
            0x09 => Failure,
            0x0a => HandInAck,
            0x0b => ProgramRequest,
            0x0c => Program,
            0x0d => KeyRequest,
            0x0e => KeyGrant,
            0x0f => Error,
            0x10..=0x16 => return Err(WireError::Reserved(b)),
            0x17 => ZkProgramRequest,
            0x18 => ZkProgram,
            _ => return Err(WireError::UnknownType(b)),
        })
    }

    pub fn name(self) -> &'static str {
        use MessageKind::*;
        match self {
            Hello => "hello",
            Welcome => "welcome",
            LeaseRequest => "lease_request",
            Assignment => "assignment",
            NoWork => "no_work",
            Heartbeat => "heartbeat",
            HeartbeatAck => "heartbeat_ack",
            Completion => "completion",
            Failure => "failure",
            HandInAck => "hand_in_ack",
            ProgramRequest => "program_request",
            Program => "program",
            KeyRequest => "key_request",
            KeyGrant => "key_grant",
            Error => "error",
            DeployRequest => "deploy_request",
            DeployResponse => "deploy_response",
            StopRequest => "stop_request",
            StopResponse => "stop_response",
            LogEntry => "log_entry",
            StatusRequest => "status_request",
            StatusResponse => "status_response",
            ZkProgramRequest => "zk_program_request",
            ZkProgram => "zk_program",
        }
    }
}

/// Bytes carried as standard base64 (with padding) in JSON.
mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <&str>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// What a worker offers: sent once, in [`Hello`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    pub cores: u32,
    pub memory_mb: u64,
    /// Executors this worker runs, e.g. `["wasm"]`.
    pub executors: Vec<String>,
    /// GPUs detected (NVML), by model name; empty when none.
    #[serde(default)]
    pub gpus: Vec<String>,
    /// Asking price per million units of fuel, in the pool's accounting unit.
    #[serde(default)]
    pub price_per_mfuel: u64,
    /// Free-form locality label, e.g. `eu-west`.
    #[serde(default)]
    pub region: String,
}

/// Worker → gateway, first message on a stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The worker's name within its node (`<node>/w<N>`).
    pub worker_id: String,
    /// Hex Ed25519 public key that signs this worker's receipts.
    pub receipt_key: String,
    pub capabilities: Capabilities,
}

/// Gateway → worker, answer to [`Hello`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    /// Lease length the gateway grants, ms; heartbeat well within it.
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
}

/// Worker → gateway: give me up to `max_jobs` jobs (currently 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    pub max_jobs: u32,
}

/// Gateway → worker: one leased job, everything needed to run it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub job_id: String,
    /// The lease's fencing token: hand-ins and heartbeats name it.
    pub epoch: u64,
    pub lease_expires_at_ms: u64,
    pub workload_type: String,
    /// Hex program id (registered programs), absent for inline programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_id: Option<String>,
    pub key_id: String,
    /// Hex X25519 public key of the client (results are sealed to it).
    pub client_pubkey: String,
    #[serde(with = "b64")]
    pub encrypted_key: Vec<u8>,
    #[serde(with = "b64")]
    pub encrypted_payload: Vec<u8>,
    /// Hex SHA-256 of `encrypted_key ‖ encrypted_payload`.
    pub payload_digest: String,
    pub created_at_ms: u64,
    pub retry_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Gateway → worker: nothing to do; ask again after `retry_after_ms` (or sooner if told).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoWork {
    pub retry_after_ms: u64,
}

/// Worker → gateway: still running this job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub job_id: String,
    pub epoch: u64,
}

/// Gateway → worker: `ok: false` means the lease is gone (fenced): stop and discard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatAck {
    pub job_id: String,
    pub ok: bool,
}

/// Worker → gateway: the sealed result and its signed receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    pub job_id: String,
    pub epoch: u64,
    #[serde(with = "b64")]
    pub encrypted_result: Vec<u8>,
    /// The receipt's canonical encoding (docs/RECEIPT.md).
    #[serde(with = "b64")]
    pub receipt: Vec<u8>,
    /// Hex Ed25519 signature over the receipt.
    pub signature: String,
}

/// Worker → gateway: the attempt failed with a stable error code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub job_id: String,
    pub epoch: u64,
    pub error_code: String,
}

/// Gateway → worker, answer to a hand-in: `accepted: false` when fenced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandInAck {
    pub job_id: String,
    pub accepted: bool,
}

/// Worker → gateway: send me a registered program's module (not secret: the registry is
/// content-addressed and modules carry no tenant data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramRequest {
    /// Hex SHA-256 program id.
    pub program_id: String,
}

/// Gateway → worker: the module whose SHA-256 is `program_id` (the worker checks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub program_id: String,
    #[serde(with = "b64")]
    pub module: Vec<u8>,
}

/// Worker → gateway: send me a deployment's program and proving key, to prove `zk_proof`
/// jobs whose `program_id` is this image id (not secret: a deployment's program and keys carry
/// no private inputs, and the image id is public).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkProgramRequest {
    /// Hex image id (64 lowercase hex digits).
    pub image_id: String,
}

/// Gateway → worker: the deployment an image id names. The worker recomputes the image id
/// from `program` and `proving_key` and refuses a mismatch, so a gateway cannot substitute
/// another program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkProgram {
    pub image_id: String,
    /// The DSL document, as JSON text (docs/DSL.md).
    pub program: String,
    /// The proving key (arkworks' compressed encoding).
    #[serde(with = "b64")]
    pub proving_key: Vec<u8>,
}

/// Worker → gateway: "I need the pool's keys." Announces the worker's X25519 key-exchange
/// key, signed by its node identity so that whoever grants can check it against the PeerId it
/// trusts, whatever the gateway relaying it did (docs/PROTOCOL.md, "Pool keys").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// Hex X25519 public key to seal the grant to.
    pub kx_pubkey: String,
    /// Hex Ed25519 signature by the worker's identity over
    /// `"vesper/v1/kx-announce\0" || peer_id bytes || kx_pubkey`.
    pub signature: String,
}

/// Gateway → worker: the answer to a [`KeyRequest`]: `pending` until a custodian that trusts
/// the worker has sealed the pool keys to it; then `granted` with the sealed keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyGrant {
    /// `pending` or `granted`.
    pub status: String,
    /// `seal_pool_grant` output (docs/ENVELOPE.md), present when granted.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "b64_opt")]
    pub sealed: Option<Vec<u8>>,
    /// Hex ids of the keys in the grant, oldest epoch first.
    #[serde(default)]
    pub key_ids: Vec<String>,
}

/// Optional bytes as base64.
mod b64_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => super::b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super::b64")] Vec<u8>);
        Option::<W>::deserialize(d).map(|o| o.map(|W(b)| b))
    }
}

/// Either side: the other side sent something it cannot serve; the stream is closed after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMessage {
    pub code: String,
    pub message: String,
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    LeaseRequest(LeaseRequest),
    Assignment(Assignment),
    NoWork(NoWork),
    Heartbeat(Heartbeat),
    HeartbeatAck(HeartbeatAck),
    Completion(Completion),
    Failure(Failure),
    HandInAck(HandInAck),
    ProgramRequest(ProgramRequest),
    Program(Program),
    KeyRequest(KeyRequest),
    KeyGrant(KeyGrant),
    Error(ErrorMessage),
    ZkProgramRequest(ZkProgramRequest),
    ZkProgram(ZkProgram),
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Hello(_) => MessageKind::Hello,
            Message::Welcome(_) => MessageKind::Welcome,
            Message::LeaseRequest(_) => MessageKind::LeaseRequest,
            Message::Assignment(_) => MessageKind::Assignment,
            Message::NoWork(_) => MessageKind::NoWork,
            Message::Heartbeat(_) => MessageKind::Heartbeat,
            Message::HeartbeatAck(_) => MessageKind::HeartbeatAck,
            Message::Completion(_) => MessageKind::Completion,
            Message::Failure(_) => MessageKind::Failure,
            Message::HandInAck(_) => MessageKind::HandInAck,
            Message::ProgramRequest(_) => MessageKind::ProgramRequest,
            Message::Program(_) => MessageKind::Program,
            Message::KeyRequest(_) => MessageKind::KeyRequest,
            Message::KeyGrant(_) => MessageKind::KeyGrant,
            Message::Error(_) => MessageKind::Error,
            Message::ZkProgramRequest(_) => MessageKind::ZkProgramRequest,
            Message::ZkProgram(_) => MessageKind::ZkProgram,
        }
    }

    pub(crate) fn payload_json(&self) -> serde_json::Result<Vec<u8>> {
        match self {
            Message::Hello(m) => serde_json::to_vec(m),
            Message::Welcome(m) => serde_json::to_vec(m),
            Message::LeaseRequest(m) => serde_json::to_vec(m),
            Message::Assignment(m) => serde_json::to_vec(m),
            Message::NoWork(m) => serde_json::to_vec(m),
            Message::Heartbeat(m) => serde_json::to_vec(m),
            Message::HeartbeatAck(m) => serde_json::to_vec(m),
            Message::Completion(m) => serde_json::to_vec(m),
            Message::Failure(m) => serde_json::to_vec(m),
            Message::HandInAck(m) => serde_json::to_vec(m),
            Message::ProgramRequest(m) => serde_json::to_vec(m),
            Message::Program(m) => serde_json::to_vec(m),
            Message::KeyRequest(m) => serde_json::to_vec(m),
            Message::KeyGrant(m) => serde_json::to_vec(m),
            Message::Error(m) => serde_json::to_vec(m),
            Message::ZkProgramRequest(m) => serde_json::to_vec(m),
            Message::ZkProgram(m) => serde_json::to_vec(m),
        }
    }

    pub(crate) fn from_payload(kind: MessageKind, payload: &[u8]) -> Result<Message, WireError> {
        fn parse<T: serde::de::DeserializeOwned>(
            kind: MessageKind,
            payload: &[u8],
        ) -> Result<T, WireError> {
            serde_json::from_slice(payload).map_err(|e| WireError::InvalidPayload {
                kind: kind.name(),
                reason: e.to_string(),
            })
        }
        Ok(match kind {
            MessageKind::Hello => Message::Hello(parse(kind, payload)?),
            MessageKind::Welcome => Message::Welcome(parse(kind, payload)?),
            MessageKind::LeaseRequest => Message::LeaseRequest(parse(kind, payload)?),
            MessageKind::Assignment => Message::Assignment(parse(kind, payload)?),
            MessageKind::NoWork => Message::NoWork(parse(kind, payload)?),
            MessageKind::Heartbeat => Message::Heartbeat(parse(kind, payload)?),
            MessageKind::HeartbeatAck => Message::HeartbeatAck(parse(kind, payload)?),
            MessageKind::Completion => Message::Completion(parse(kind, payload)?),
            MessageKind::Failure => Message::Failure(parse(kind, payload)?),
            MessageKind::HandInAck => Message::HandInAck(parse(kind, payload)?),
            MessageKind::ProgramRequest => Message::ProgramRequest(parse(kind, payload)?),
            MessageKind::Program => Message::Program(parse(kind, payload)?),
            MessageKind::KeyRequest => Message::KeyRequest(parse(kind, payload)?),
            MessageKind::KeyGrant => Message::KeyGrant(parse(kind, payload)?),
            MessageKind::Error => Message::Error(parse(kind, payload)?),
            MessageKind::ZkProgramRequest => Message::ZkProgramRequest(parse(kind, payload)?),
            MessageKind::ZkProgram => Message::ZkProgram(parse(kind, payload)?),
            reserved => return Err(WireError::Reserved(reserved as u8)),
        })
    }
}
