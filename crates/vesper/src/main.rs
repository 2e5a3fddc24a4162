//! The `vesper` binary: every role and the client CLI.

mod admin;
mod bench;
mod cli;
mod config;
mod journal;
mod logging;
mod peers;
mod zk;
mod zk_remote;

use clap::{Parser, Subcommand};
use vesper::node::Role;

#[derive(Parser)]
#[command(name = "vesper", version, about = "Private, verifiable compute")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run gateway, scheduler and workers in one process on the embedded store.
    Dev(cli::DevArgs),
    /// Run the stateless API over a shared store (`--store redis://…`); no pool secret.
    Gateway(cli::DevArgs),
    /// Run pool workers that take jobs straight from a shared store; no HTTP.
    Worker(cli::DevArgs),
    /// Create a client X25519 key pair (secret file 0600).
    Keygen(cli::KeygenArgs),
    /// Encrypt a workload locally and submit it.
    Submit(cli::SubmitArgs),
    /// Show a job's status.
    Status(cli::StatusArgs),
    /// List the pool's workers: capabilities, load, reputation, liveness.
    Workers(cli::WorkersArgs),
    /// Fetch a result, verify its receipt and decrypt it.
    Result(cli::ResultArgs),
    /// Verify a saved result (the JSON body of GET /api/result/{job_id}); exit 0 only if genuine.
    Verify(cli::VerifyArgs),
    /// Cancel a queued job.
    Cancel(cli::CancelArgs),
    /// Measure end-to-end throughput and latency on an in-process dev node.
    Bench(bench::BenchArgs),
    /// Manage tenants (operator; works on the store directly).
    Tenant(admin::TenantArgs),
    /// Manage API keys and wallets (operator; works on the store directly).
    Key(admin::KeyArgs),
    /// Write or show the node configuration (vesper.toml).
    Config(admin::ConfigArgs),
    /// Rotate or list the pool key's epochs.
    Pool(admin::PoolArgs),
    /// Print this node's PeerId (its Ed25519 identity, created on first use).
    Id(peers::IdArgs),
    /// Manage the explicit trust list (trusted_peers.json).
    Peers(peers::PeersArgs),
    /// The proof gateway's compiler and prover on local files: validate, compile, setup,
    /// prove, verify, export (docs/DSL.md).
    Zk(zk::ZkArgs),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // `dev` reads its configuration (logging included) before anything else starts.
    let dev_config = match &args.command {
        Command::Dev(a) | Command::Gateway(a) | Command::Worker(a) => match a.resolve() {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: {e:#}");
                return std::process::ExitCode::from(2);
            }
        },
        _ => None,
    };
    let logged = match &dev_config {
        Some(c) => logging::init(
            &c.log.level,
            c.log.format == "json",
            Some(c.log.dir.as_str()).filter(|d| !d.is_empty()),
        ),
        None => logging::init("warn", false, None),
    };
    if let Err(e) = logged {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r = rt.block_on(async move {
        match args.command {
            Command::Dev(_) => cli::dev(dev_config.expect("resolved above"), Role::Dev).await,
            Command::Gateway(_) => {
                cli::dev(dev_config.expect("resolved above"), Role::Gateway).await
            }
            Command::Worker(_) => cli::dev(dev_config.expect("resolved above"), Role::Worker).await,
            Command::Keygen(a) => cli::keygen(a),
            Command::Submit(a) => cli::submit(a).await,
            Command::Status(a) => cli::status(a).await,
            Command::Workers(a) => cli::workers(a).await,
            Command::Result(a) => cli::result(a).await,
            Command::Verify(a) => cli::verify(a).await,
            Command::Cancel(a) => cli::cancel(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Tenant(a) => admin::tenant(a).await,
            Command::Key(a) => admin::key(a).await,
            Command::Config(a) => admin::config(a),
            Command::Pool(a) => admin::pool(a).await,
            Command::Id(a) => peers::id(a),
            Command::Peers(a) => peers::peers(a),
            Command::Zk(a) => zk::zk(a).await,
        }
    });
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
