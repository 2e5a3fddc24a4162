//! `zk_proof` jobs (the proof gateway, docs/DSL.md): the job's `program_id` is a deployment's
//! image id and its (sealed) input is the prove request's JSON,
//! `{"private_inputs": …, "public_params": …, "binding"?: "<decimal>"}`. The worker compiles
//! the deployment's program and loads its proving key once per image id (a bounded
//! process-wide cache), proves, and answers with the seed's response as the program's stdout,
//! sealed to the client like any result:
//!
//! - exit code 0: `{"success": true, "proof": "<hex>", "image_id", "outputs", "public_inputs",
//!   "today"}`;
//! - exit code 1: `{"success": false, "failed_rule": NAME, "image_id"}`: an enforced rule does
//!   not hold, and no proof was made;
//! - exit code 2: `{"success": false, "errors": [{"path", "message"}]}`: the request's values do
//!   not fit the program.
//!
//! `today` (a public input where the program declares `"default": "today"`) is the UTC date of
//! the job's `created_at`, so that a retry proves the same statement. The receipt's `fuel_used`
//! is the circuit's number of constraints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};
use vesper_core::{ErrorCode, ProgramId};
use vesper_zk::groth::{self, Compiled, Keys, ProveError};
use vesper_zk::{export, field, inputs};

/// Deployments kept compiled with their proving keys, per process.
const CACHE: usize = 16;

/// A deployment ready to prove.
pub struct ZkProgram {
    pub compiled: Compiled,
    pub keys: Keys,
    pub image_id: String,
}

fn cache() -> &'static Mutex<HashMap<ProgramId, Arc<ZkProgram>>> {
    static C: OnceLock<Mutex<HashMap<ProgramId, Arc<ZkProgram>>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// The cached program for an image id, if loaded.
pub fn cached(id: &ProgramId) -> Option<Arc<ZkProgram>> {
    cache().lock().expect("zk cache").get(id).cloned()
}

/// The image ids this process holds loaded.
pub fn cached_ids() -> Vec<String> {
    let mut ids: Vec<String> = cache()
        .lock()
        .expect("zk cache")
        .keys()
        .map(|k| k.to_string())
        .collect();
    ids.sort();
    ids
}

/// How many of the newest preload asks a process loads (half its cache, so that proving
/// other programs does not evict them at once).
const PRELOADS: usize = CACHE / 2;
/// How often a process reads the preload asks and reports what it holds.
pub const PRELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// `zk/preload`: every [`PRELOAD_EVERY`], load the programs asked for by
/// `POST /api/load-program` (the newest [`PRELOADS`]) and report what this process holds
/// under the name `prover` (`GET /api/status`).
pub async fn preload_loop(
    store: Arc<dyn vesper_store::Store>,
    source: Arc<dyn crate::source::JobSource>,
    prover: String,
    clock: Arc<dyn vesper_core::Clock>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(PRELOAD_EVERY);
    // Asks whose program did not load (deleted since, or refused by `load`): not fetched and
    // compiled again every tick. Image ids are content addresses, so one never comes back
    // different; the set is bounded by starting over.
    let mut refused: std::collections::HashSet<ProgramId> = Default::default();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let asks = match store.preloads().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "reading the preload asks failed");
                continue;
            }
        };
        for image_id in asks.into_iter().take(PRELOADS) {
            let Ok(id) = image_id.parse::<ProgramId>() else {
                continue;
            };
            if cached(&id).is_some() || refused.contains(&id) {
                continue;
            }
            match obtain(&*source, id).await {
                Ok(_) => tracing::info!(image_id, "program preloaded"),
                Err(ErrorCode::ProgramNotFound) => {
                    tracing::info!(image_id, "a preload ask names no program that loads");
                    if refused.len() >= vesper_store::MAX_PRELOADS {
                        refused.clear();
                    }
                    refused.insert(id);
                }
                Err(e) => tracing::warn!(image_id, error = %e, "preloading a program failed"),
            }
        }
        if let Err(e) = store
            .report_loaded(&prover, &cached_ids(), clock.now())
            .await
        {
            tracing::warn!(error = %e, "reporting the loaded programs failed");
        }
    }
}

/// The program `id` names: from this process's cache, or fetched from `source` and loaded off
/// the runtime ([`load`], which caches it). `ProgramNotFound` when there is no such deployment
/// or it does not load.
pub async fn obtain(
    source: &dyn crate::source::JobSource,
    id: ProgramId,
) -> Result<Arc<ZkProgram>, ErrorCode> {
    if let Some(p) = cached(&id) {
        return Ok(p);
    }
    let (text, pk) = source
        .zk_program(&id.to_string())
        .await
        .map_err(|_| ErrorCode::Internal)?
        .ok_or(ErrorCode::ProgramNotFound)?;
    tokio::task::spawn_blocking(move || load(id, &text, &pk))
        .await
        .map_err(|_| ErrorCode::Internal)?
}

/// Compile a deployment's program and read its proving key (blocking: call off the runtime).
/// The image id is recomputed and must be the one asked for.
pub fn load(id: ProgramId, program: &str, proving_key: &[u8]) -> Result<Arc<ZkProgram>, ErrorCode> {
    let doc: Value = serde_json::from_str(program).map_err(|_| ErrorCode::ProgramNotFound)?;
    let compiled = groth::compile(&doc).map_err(|_| ErrorCode::ProgramNotFound)?;
    let keys = Keys::from_bytes(proving_key).ok_or(ErrorCode::ProgramNotFound)?;
    let image_id = groth::image_id(&compiled, keys.vk());
    if image_id != id.to_string() || !groth::check_proving_key(&compiled, &keys.pk) {
        return Err(ErrorCode::ProgramNotFound);
    }
    let p = Arc::new(ZkProgram {
        compiled,
        keys,
        image_id,
    });
    let mut c = cache().lock().expect("zk cache");
    if c.len() >= CACHE {
        let victim = *c.keys().next().expect("not empty");
        c.remove(&victim);
    }
    c.insert(id, p.clone());
    Ok(p)
}

/// What a prove request gives the program: its stdout and exit code.
pub struct ZkOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    /// The circuit's constraints (the receipt's `fuel_used`).
    pub constraints: u64,
}

/// Prove one request (blocking). `created_ms` is the job's creation time (for `today`).
pub fn prove(p: &ZkProgram, input: &[u8], created_ms: u64) -> ZkOutput {
    let constraints = p.compiled.constraints as u64;
    let out = |code: i32, v: Value| ZkOutput {
        exit_code: code,
        stdout: serde_json::to_vec(&v).expect("JSON serialises"),
        constraints,
    };
    let request_error = |message: &str| {
        out(
            2,
            json!({"success": false, "image_id": p.image_id, "errors": [{"path": "", "message": message}]}),
        )
    };
    let Ok(req) = serde_json::from_slice::<Value>(input) else {
        return request_error("the input is not a JSON prove request");
    };
    let binding = match req.get("binding") {
        None | Some(Value::Null) => field::from_i128(0),
        Some(Value::String(s)) => match field::parse(s) {
            Some(f) => f,
            None => return request_error("binding: a decimal field element"),
        },
        Some(_) => return request_error("binding: a decimal field element, as a string"),
    };
    let today = vesper_zk::dsl::civil_from_days((created_ms / 86_400_000) as i64);
    let null = Value::Null;
    let values = match inputs::read(
        &p.compiled.program,
        req.get("private_inputs").unwrap_or(&null),
        req.get("public_params").unwrap_or(&null),
        today,
    ) {
        Ok(v) => v,
        Err(errors) => {
            let errors: Vec<Value> = errors
                .iter()
                .map(|e| json!({"path": e.path, "message": e.message}))
                .collect();
            return out(
                2,
                json!({"success": false, "image_id": p.image_id, "errors": errors}),
            );
        }
    };
    match groth::prove(&p.compiled, &p.keys, &values, binding) {
        Ok(proven) => {
            let outputs: serde_json::Map<String, Value> = proven
                .outputs
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            out(
                0,
                json!({
                    "success": true,
                    "proof": hex::encode(groth::proof_bytes(&proven.proof)),
                    "image_id": p.image_id,
                    "outputs": outputs,
                    "public_inputs": export::public_json(&proven.public),
                    "today": format!("{:04}-{:02}-{:02}", today / 10_000, today / 100 % 100, today % 100),
                }),
            )
        }
        Err(ProveError::RuleFailed(rule)) => out(
            1,
            json!({"success": false, "image_id": p.image_id, "failed_rule": rule,
                   "error": format!("rule {rule} does not hold for these inputs; no proof was made")}),
        ),
        Err(ProveError::Synthesis(_)) => request_error("the values do not satisfy the circuit"),
    }
}
