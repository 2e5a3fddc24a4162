//! `vesper zk deploy` and `vesper zk prove --customer-id`: the proof gateway over HTTP.
//!
//! Proving is **sealed** by default: the request's JSON is sealed here to the pool key as a
//! `zk_proof` job (docs/DSL.md §9), so the gateway never sees the private inputs; the result
//! is opened here and its receipt checked against the submission. `--plaintext` uses the
//! seed's `POST /api/prove` instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;
use vesper_client::{Program, seal_job, verify_result};
use vesper_core::{ProgramId, WorkloadType};

use crate::cli::{ClientOpts, load_identity};
use crate::zk::read_json;

/// Deploy a DSL document to the gateway.
pub async fn deploy(
    opts: &ClientOpts,
    dsl: &Path,
    customer_id: Option<String>,
) -> anyhow::Result<ExitCode> {
    let client = opts.client()?;
    let r = client.deploy(read_json(dsl)?, customer_id).await?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(ExitCode::SUCCESS)
}

/// Prove a request with a customer's current deployment, sealed (or in plaintext).
pub async fn prove(
    opts: &ClientOpts,
    customer_id: &str,
    input: &Path,
    binding: Option<String>,
    plaintext: bool,
    identity: &Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let client = opts.client()?;
    let mut req = read_json(input)?;
    if let Some(b) = &binding {
        req["binding"] = Value::String(b.clone());
    }
    let answer: Value = if plaintext {
        let body = vesper_client::ProveBody {
            customer_id: customer_id.to_owned(),
            private_inputs: req["private_inputs"].clone(),
            public_params: req.get("public_params").cloned().unwrap_or(Value::Null),
            binding,
        };
        serde_json::to_value(client.prove_plain(&body).await?)?
    } else {
        let d = client.deployment(customer_id).await?;
        let image: ProgramId = d
            .current
            .image_id
            .parse()
            .context("the gateway sent a malformed image id")?;
        let sk = load_identity(&opts.identity_path(identity)?)?;
        let keys = client.keys(None).await?;
        let pool = &keys
            .pool_keys
            .first()
            .context("the gateway publishes no pool key")?
            .1;
        let sealed = seal_job(
            pool,
            &sk.public_key(),
            WorkloadType::ZkProof,
            Program::Registered(image),
            serde_json::to_vec(&req)?,
            None,
        )?;
        let job = client.submit(&sealed.request, None).await?;
        let job_id: vesper_core::JobId = job
            .job_id
            .parse()
            .context("the gateway sent a malformed job id")?;
        let (_, body) = client.result(&job.job_id, 60).await?;
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let v = verify_result(&body, &trusted, Some(&sk), Some(&sealed.facts(job_id)))?;
        let out = v.plaintext.context("the result did not open")?;
        let mut answer: Value =
            serde_json::from_slice(&out.stdout).context("the worker's answer is not JSON")?;
        answer["job_id"] = Value::String(job.job_id.clone());
        eprintln!(
            "receipt verified: worker {} proved with image {} (sealed; the gateway saw ciphertext only)",
            v.receipt.worker_id, v.receipt.program_id
        );
        answer
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(if answer["success"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
