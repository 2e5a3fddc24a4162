//! The gateway's side of the job protocol (`RemotePool`) over a real store, driven by
//! simulated remote workers: placement among waiting workers, and what a hand-in must be.

mod hand_in;
mod placement;

use vesper_core::{Clock as _, JobId, Priority, ProgramId, SystemClock, TenantId, WorkloadType};
use vesper_net::NodeIdentity;
use vesper_proto::{Capabilities, Hello, Message};
use vesper_store::{NewJob, SubmitQuota};

/// The `hello` of a one-core wasm worker with identity `id` calling itself `name`.
pub fn hello(id: &NodeIdentity, name: &str) -> Message {
    Message::Hello(Hello {
        worker_id: name.into(),
        receipt_key: hex::encode(id.public_key()),
        capabilities: Capabilities {
            cores: 1,
            memory_mb: 1024,
            executors: vec!["wasm".into()],
            gpus: vec![],
            price_per_mfuel: 0,
            region: String::new(),
        },
    })
}

/// A job of `tenant` whose ciphertext is never opened here: `encrypted_key` 32 × `03`,
/// `encrypted_payload` 40 × `04`, registered program 32 × `01`.
pub fn new_job(tenant: TenantId, max_retries: u32) -> NewJob {
    NewJob {
        job_id: JobId::new_random(),
        tenant,
        workload_type: WorkloadType::General,
        program_id: Some(ProgramId([1; 32])),
        key_id: "0123456789abcdef".parse().unwrap(),
        client_pubkey: [2; 32],
        encrypted_key: vec![3; 32],
        encrypted_payload: vec![4; 40],
        priority: Priority::new(5).unwrap(),
        max_retries,
        created_at: SystemClock.now(),
        idempotency_key: None,
        request_digest: [0; 32],
        callback_url: None,
        request_id: None,
        max_fuel: None,
        quota: SubmitQuota::default(),
    }
}
