//! Remote workers over libp2p (`/vesper/jobs/1`, docs/PROTOCOL.md).
//!
//! - [`server::RemotePool`] (gateway side): serves trusted workers' requests by running the
//!   lease on the store on their behalf; relays sealed pool-key grants; tracks each worker's
//!   capabilities, load, reputation and liveness for `GET /api/workers`.
//! - [`client`] (worker side): `vesper worker --connect`: dials out, says hello, waits for its
//!   pool-key grant, then runs the ordinary worker runtime on a [`client::RemoteSource`].
//! - [`custodian`]: in a node that holds the pool keys, seals them to each worker its operator
//!   trusts; the gateway only ever relays the sealed bytes.

pub mod client;
pub mod custodian;
pub mod pool;
pub mod server;

use std::str::FromStr as _;

use vesper_core::{JobId, KeyId, ProgramId, Timestamp, WorkloadType};
use vesper_proto::Assignment;
use vesper_store::{LeaseRef, LeasedJob};

/// Domain of the signature over a worker's key-exchange key (`key_request`).
pub const KX_DOMAIN: &[u8] = b"vesper/v1/kx-announce\0";

/// The message a worker signs to announce its key-exchange key.
pub fn kx_message(peer: &vesper_net::PeerId, kx_pubkey: &[u8; 32]) -> Vec<u8> {
    let mut m = peer.to_bytes();
    m.extend_from_slice(kx_pubkey);
    m
}

pub(crate) fn assignment_of(job: &LeasedJob) -> Assignment {
    Assignment {
        job_id: job.lease.job_id.to_string(),
        epoch: job.lease.epoch,
        lease_expires_at_ms: job.lease_expires_at.0,
        workload_type: job.workload_type.as_str().to_owned(),
        program_id: job.program_id.map(|p| p.to_string()),
        key_id: job.key_id.to_string(),
        client_pubkey: hex::encode(job.client_pubkey),
        encrypted_key: job.encrypted_key.clone(),
        encrypted_payload: job.encrypted_payload.clone(),
        payload_digest: hex::encode(job.payload_digest),
        created_at_ms: job.created_at.0,
        retry_count: job.retry_count,
        max_fuel: job.max_fuel,
        request_id: job.request_id.clone(),
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    vesper_core::hex_array(s)
}

/// The worker's side of an assignment; `None` if any field is malformed.
pub(crate) fn leased_job_of(a: Assignment, worker: vesper_core::WorkerId) -> Option<LeasedJob> {
    Some(LeasedJob {
        lease: LeaseRef {
            job_id: JobId::from_str(&a.job_id).ok()?,
            epoch: a.epoch,
            worker,
        },
        lease_expires_at: Timestamp(a.lease_expires_at_ms),
        workload_type: WorkloadType::from_str(&a.workload_type).ok()?,
        program_id: match a.program_id {
            Some(p) => Some(ProgramId::from_str(&p).ok()?),
            None => None,
        },
        key_id: KeyId::from_str(&a.key_id).ok()?,
        client_pubkey: hex32(&a.client_pubkey)?,
        encrypted_key: a.encrypted_key,
        encrypted_payload: a.encrypted_payload,
        payload_digest: hex32(&a.payload_digest)?,
        created_at: Timestamp(a.created_at_ms),
        retry_count: a.retry_count,
        max_fuel: a.max_fuel,
        request_id: a.request_id,
        priority: None,
    })
}

/// What this machine offers, for a remote worker's hello: cores, memory, the wasm executor,
/// NVIDIA GPUs (NVML, loaded at run time: absent driver = no GPUs), region and price.
pub fn capabilities(
    workers: usize,
    region: &str,
    price_per_mfuel: u64,
) -> vesper_proto::Capabilities {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    vesper_proto::Capabilities {
        cores: cores.min(workers.max(1) as u32).max(1),
        memory_mb: total_memory_mb(),
        executors: vec!["wasm".into()],
        gpus: detect_gpus(),
        price_per_mfuel,
        region: region.chars().take(64).collect(),
    }
}

fn total_memory_mb() -> u64 {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// NVIDIA GPUs by model name, through NVML; empty when the driver library is absent.
pub fn detect_gpus() -> Vec<String> {
    match nvml_wrapper::Nvml::init() {
        Ok(nvml) => {
            let n = nvml.device_count().unwrap_or(0);
            (0..n.min(64))
                .filter_map(|i| nvml.device_by_index(i).ok()?.name().ok())
                .collect()
        }
        Err(e) => {
            tracing::debug!(error = %e, "NVML not available: no GPUs reported");
            Vec::new()
        }
    }
}
