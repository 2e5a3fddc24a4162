//! The `vesper` binary: every role and the client CLI.

mod bench;
mod cli;

use clap::{Parser, Subcommand};

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
    /// Create a client X25519 key pair (secret file 0600).
    Keygen(cli::KeygenArgs),
    /// Encrypt a workload locally and submit it.
    Submit(cli::SubmitArgs),
    /// Show a job's status.
    Status(cli::StatusArgs),
    /// Fetch a result, verify its receipt and decrypt it.
    Result(cli::ResultArgs),
    /// Verify a saved result (the JSON body of GET /api/result/{job_id}); exit 0 only if genuine.
    Verify(cli::VerifyArgs),
    /// Cancel a queued job.
    Cancel(cli::CancelArgs),
    /// Measure end-to-end throughput and latency on an in-process dev node.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let log_default = match &args.command {
        Command::Dev(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VESPER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_default)),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r = rt.block_on(async move {
        match args.command {
            Command::Dev(a) => cli::dev(a).await,
            Command::Keygen(a) => cli::keygen(a),
            Command::Submit(a) => cli::submit(a).await,
            Command::Status(a) => cli::status(a).await,
            Command::Result(a) => cli::result(a).await,
            Command::Verify(a) => cli::verify(a).await,
            Command::Cancel(a) => cli::cancel(a).await,
            Command::Bench(a) => bench::run(a).await,
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
