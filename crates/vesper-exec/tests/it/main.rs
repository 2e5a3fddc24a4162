//! Executor tests: the example programs compute the right thing, hostile programs fail with
//! typed errors, the sandbox is deterministic and memory stays bounded.

mod examples;
mod hostile;

use vesper_core::{ExecLimits, ProgramId, Timestamp};
use vesper_exec::{ExecError, ExecOutput, Executor, ExecutorConfig, RunRequest};

pub fn executor() -> Executor {
    Executor::new(ExecutorConfig {
        max_memory_bytes: 64 << 20,
        max_concurrent: 4,
    })
    .unwrap()
}

pub fn wasm(wat_src: &str) -> Vec<u8> {
    wat::parse_str(wat_src).expect("valid wat")
}

pub fn run_with(
    ex: &Executor,
    module: &[u8],
    input: &[u8],
    limits: ExecLimits,
) -> Result<ExecOutput, ExecError> {
    ex.run(RunRequest {
        program_id: ProgramId::of_module(module),
        module: Some(module),
        input,
        seed: [7; 32],
        clock: Timestamp(1_700_000_000_000),
        limits,
        cancel: None,
    })
}

pub fn limits() -> ExecLimits {
    ExecLimits {
        fuel: 2_000_000_000,
        memory_bytes: 32 << 20,
        wall_ms: 5_000,
        output_bytes: 1 << 20,
        stderr_bytes: 4096,
    }
}
