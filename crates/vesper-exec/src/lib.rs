//! Sandboxed execution of WASI command modules with wasmtime.
//!
//! A program reads its input on stdin and writes its result on stdout; stderr is a bounded log.
//! It gets no filesystem, no network, no environment and no ambient clock or entropy: the wall
//! clock reads the job's creation time, the monotonic clock advances 1 µs per read, nothing
//! waits on real time (`poll_oneoff`, used to sleep, answers ENOTSUP), and randomness comes
//! from a generator seeded by the job. Limits per run: fuel
//! (instructions), linear memory, wall time (epoch interruption) and output size.
//!
//! **Boundary:** the only crate that imports wasmtime.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use thiserror::Error;
use vesper_core::{ErrorCode, ExecLimits, ProgramId, Timestamp};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store,
    Trap,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

/// Epoch tick. Wall-time limits are enforced to within one tick.
const TICK: Duration = Duration::from_millis(5);
/// WASI preview 1 `errno::notsup`.
const ERRNO_NOTSUP: i32 = 58;
/// Compiled modules kept in memory.
const MODULE_CACHE_ENTRIES: usize = 128;

/// Why a run did not produce a result. Each maps to a stable [`ErrorCode`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecError {
    #[error("fuel exhausted")]
    FuelExhausted,
    #[error("memory limit exceeded")]
    MemoryLimit,
    #[error("wall-time limit exceeded")]
    Timeout,
    #[error("program trapped")]
    Trap,
    #[error("output limit exceeded")]
    OutputTooLarge,
    #[error("invalid module")]
    InvalidModule,
    #[error("module bytes do not match the program id")]
    ProgramMismatch,
    /// Stopped by the caller ([`RunRequest::cancel`]): its lease was lost, nobody wants the
    /// result. Never reported as the job's failure.
    #[error("run cancelled")]
    Cancelled,
    #[error("executor internal error")]
    Internal,
}

impl ExecError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ExecError::FuelExhausted => ErrorCode::FuelExhausted,
            ExecError::MemoryLimit => ErrorCode::MemoryLimit,
            ExecError::Timeout => ErrorCode::Timeout,
            ExecError::Trap => ErrorCode::Trap,
            ExecError::OutputTooLarge => ErrorCode::OutputTooLarge,
            ExecError::InvalidModule | ExecError::ProgramMismatch => ErrorCode::InvalidModule,
            ExecError::Internal | ExecError::Cancelled => ErrorCode::Internal,
        }
    }
}

/// Executor-wide settings.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Upper bound for any job's memory limit; sizes the pooling allocator's slots.
    pub max_memory_bytes: usize,
    /// Instances that may run at once (pool slots).
    pub max_concurrent: u32,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_memory_bytes: ExecLimits::default().memory_bytes,
            max_concurrent: 16,
        }
    }
}

/// One program run.
pub struct RunRequest<'a> {
    pub program_id: ProgramId,
    /// The module bytes; needed only when the program is not cached yet.
    pub module: Option<&'a [u8]>,
    pub input: &'a [u8],
    /// Seeds the program's randomness; deterministic per job.
    pub seed: [u8; 32],
    /// What the program's wall clock reads.
    pub clock: Timestamp,
    pub limits: ExecLimits,
    /// Set to stop the run (within one epoch tick, 5 ms) with [`ExecError::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A finished run (any exit code).
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub fuel_used: u64,
    pub wall_ms: u64,
}

impl std::fmt::Debug for ExecOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecOutput")
            .field("exit_code", &self.exit_code)
            .field("stdout_len", &self.stdout.len())
            .field("stderr_len", &self.stderr.len())
            .field("fuel_used", &self.fuel_used)
            .finish()
    }
}

struct Host {
    wasi: WasiP1Ctx,
    limiter: Limiter,
}

struct Limiter {
    memory_bytes: usize,
    memory_hit: bool,
}

const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_hit = true;
            return Err(wasmtime::format_err!("memory limit exceeded"));
        }
        Ok(true)
    }
    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        4
    }
    fn memories(&self) -> usize {
        1
    }
}

/// Wall clock frozen at the job's creation time.
struct FrozenClock(Duration);
impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that advances 1 µs per reading: deterministic, yet never stands still.
struct StepClock(AtomicU64);
impl wasmtime_wasi::HostMonotonicClock for StepClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed)
    }
}

/// Runs WASI command modules. Cheap to share (`Arc`); `run` is blocking and thread-safe.
pub struct Executor {
    engine: Engine,
    linker: Linker<Host>,
    cache: Mutex<HashMap<ProgramId, Module>>,
    max_memory_bytes: usize,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Executor {
    pub fn new(cfg: ExecutorConfig) -> Result<Self, ExecError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(cfg.max_concurrent)
            .total_memories(cfg.max_concurrent)
            .total_tables(cfg.max_concurrent * 4)
            .total_stacks(cfg.max_concurrent)
            .max_memory_size(cfg.max_memory_bytes)
            .linear_memory_keep_resident(0);
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| {
            tracing::error!(error = %e, "wasmtime engine");
            ExecError::Internal
        })?;
        let mut linker: Linker<Host> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |h: &mut Host| &mut h.wasi)
            .map_err(|_| ExecError::Internal)?;
        // No waiting on real time: the sandbox's clocks are virtual (frozen wall clock,
        // stepping monotonic clock), and a host-side sleep could neither be interrupted by
        // the wall-time limit nor by a cancel. `poll_oneoff` (sleep, waiting on descriptors)
        // answers ENOTSUP at once.
        linker.allow_shadowing(true);
        linker
            .func_wrap(
                "wasi_snapshot_preview1",
                "poll_oneoff",
                |_: i32, _: i32, _: i32, _: i32| -> i32 { ERRNO_NOTSUP },
            )
            .map_err(|_| ExecError::Internal)?;
        linker.allow_shadowing(false);

        // One ticker per engine drives epoch deadlines.
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.weak();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("vesper-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        match engine.upgrade() {
                            Some(e) => e.increment_epoch(),
                            None => break,
                        }
                    }
                })
                .map_err(|_| ExecError::Internal)?;
        }
        Ok(Executor {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
            max_memory_bytes: cfg.max_memory_bytes,
            ticker_stop: stop,
        })
    }

    /// Whether a compiled module for `id` is cached.
    pub fn is_cached(&self, id: &ProgramId) -> bool {
        self.cache.lock().expect("module cache").contains_key(id)
    }

    /// Compile (or fetch from cache) the module for `id`. Checks that `bytes` hash to `id`.
    pub fn prepare(&self, id: ProgramId, bytes: Option<&[u8]>) -> Result<Module, ExecError> {
        if let Some(m) = self.cache.lock().expect("module cache").get(&id) {
            return Ok(m.clone());
        }
        let bytes = bytes.ok_or(ExecError::InvalidModule)?;
        if ProgramId::of_module(bytes) != id {
            return Err(ExecError::ProgramMismatch);
        }
        if bytes.len() > vesper_core::limits::MAX_MODULE_BYTES {
            return Err(ExecError::InvalidModule);
        }
        let module = Module::from_binary(&self.engine, bytes).map_err(|e| {
            tracing::debug!(program = %id, error = %e, "module rejected");
            ExecError::InvalidModule
        })?;
        // A command module exports `_start` taking nothing.
        match module.get_export("_start") {
            Some(wasmtime::ExternType::Func(f))
                if f.params().len() == 0 && f.results().len() == 0 => {}
            _ => return Err(ExecError::InvalidModule),
        }
        let mut cache = self.cache.lock().expect("module cache");
        if cache.len() >= MODULE_CACHE_ENTRIES {
            // Simple and bounded: drop an arbitrary entry.
            if let Some(k) = cache.keys().next().copied() {
                cache.remove(&k);
            }
        }
        cache.insert(id, module.clone());
        Ok(module)
    }

    /// Run a program to completion or to a limit. Blocking.
    pub fn run(&self, req: RunRequest<'_>) -> Result<ExecOutput, ExecError> {
        let module = self.prepare(req.program_id, req.module)?;
        let limits = req.limits;
        let stdout = MemoryOutputPipe::new(limits.output_bytes.saturating_add(1));
        let stderr = MemoryOutputPipe::new(limits.stderr_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(req.input.to_vec()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .arg("program")
            .wall_clock(FrozenClock(Duration::from_millis(req.clock.0)))
            .monotonic_clock(StepClock(AtomicU64::new(0)))
            .secure_random(rand::rngs::StdRng::from_seed(req.seed))
            .insecure_random(rand::rngs::StdRng::from_seed(derive(req.seed, 1)))
            .insecure_random_seed(u128::from_le_bytes(
                derive(req.seed, 2)[..16].try_into().expect("16"),
            ))
            .allow_blocking_current_thread(true)
            .build_p1();
        let mut store = Store::new(
            &self.engine,
            Host {
                wasi,
                limiter: Limiter {
                    memory_bytes: limits.memory_bytes.min(self.max_memory_bytes),
                    memory_hit: false,
                },
            },
        );
        store.limiter(|h| &mut h.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|_| ExecError::Internal)?;
        // Every tick: stop if the caller cancelled, trap once the wall-time limit has passed
        // (measured, not counted: ticks can be missed while the program is in a host call).
        let started = Instant::now();
        let wall = Duration::from_millis(limits.wall_ms);
        let cancel = req.cancel.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(wasmtime::Error::new(Cancelled));
            }
            if started.elapsed() >= wall {
                return Err(Trap::Interrupt.into());
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });

        let outcome = self
            .linker
            .instantiate(&mut store, &module)
            .and_then(|inst| inst.get_typed_func::<(), ()>(&mut store, "_start"))
            .and_then(|start| start.call(&mut store, ()));
        let wall_ms = started.elapsed().as_millis() as u64;
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let memory_hit = store.data().limiter.memory_hit;
        drop(store);

        let out = stdout.contents();
        if out.len() > limits.output_bytes {
            return Err(ExecError::OutputTooLarge);
        }
        let exit_code = match outcome {
            Ok(()) => 0,
            Err(e) => {
                if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    exit.0
                } else if memory_hit {
                    return Err(ExecError::MemoryLimit);
                } else {
                    tracing::debug!(program = %req.program_id, error = ?e, "run failed");
                    if e.downcast_ref::<Cancelled>().is_some() {
                        return Err(ExecError::Cancelled);
                    }
                    return Err(match e.downcast_ref::<Trap>() {
                        Some(Trap::OutOfFuel) => ExecError::FuelExhausted,
                        Some(Trap::Interrupt) => ExecError::Timeout,
                        Some(_) => ExecError::Trap,
                        // Link errors (imports other than WASI preview 1) and the like.
                        None if is_link_error(&e) => ExecError::InvalidModule,
                        None => ExecError::Trap,
                    });
                }
            }
        };
        Ok(ExecOutput {
            exit_code,
            stdout: out.to_vec(),
            stderr: stderr.contents().to_vec(),
            fuel_used,
            wall_ms,
        })
    }
}

/// The error a cancelled run stops with.
#[derive(Debug)]
struct Cancelled;
impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("run cancelled")
    }
}
impl std::error::Error for Cancelled {}

fn is_link_error(e: &wasmtime::Error) -> bool {
    let s = e.to_string();
    s.contains("unknown import") || s.contains("incompatible import")
}

fn derive(seed: [u8; 32], n: u8) -> [u8; 32] {
    vesper_core::sha256(&[b"vesper/v1/exec-seed\0", &seed, &[n]])
}
