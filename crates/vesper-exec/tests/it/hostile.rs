use vesper_core::ExecLimits;
use vesper_exec::ExecError;

use crate::{executor, limits, run_with, wasm};

const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
"#;

fn module(body: &str) -> Vec<u8> {
    wasm(&format!("(module {PRELUDE} {body})"))
}

fn infinite_loop() -> Vec<u8> {
    module(r#"(func (export "_start") (loop $l (br $l)))"#)
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let ex = executor();
    let err = run_with(
        &ex,
        &infinite_loop(),
        b"",
        ExecLimits {
            fuel: 10_000_000,
            ..limits()
        },
    )
    .unwrap_err();
    assert_eq!(err, ExecError::FuelExhausted);
}

#[test]
fn infinite_loop_hits_wall_time_when_fuel_is_plenty() {
    let ex = executor();
    let t = std::time::Instant::now();
    let err = run_with(
        &ex,
        &infinite_loop(),
        b"",
        ExecLimits {
            fuel: u64::MAX / 2,
            wall_ms: 200,
            ..limits()
        },
    )
    .unwrap_err();
    assert_eq!(err, ExecError::Timeout);
    let ms = t.elapsed().as_millis();
    assert!((150..3_000).contains(&ms), "took {ms} ms");
}

/// A run is stopped within a tick or two of its cancel flag being set, whatever its limits.
#[test]
fn a_cancelled_run_stops_promptly() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let ex = executor();
    let module = infinite_loop();
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        flag.store(true, Ordering::Relaxed);
        std::time::Instant::now()
    });
    let err = ex
        .run(vesper_exec::RunRequest {
            program_id: vesper_core::ProgramId::of_module(&module),
            module: Some(&module),
            input: b"",
            seed: [7; 32],
            clock: vesper_core::Timestamp(0),
            limits: ExecLimits {
                fuel: u64::MAX / 2,
                wall_ms: 60_000,
                ..limits()
            },
            cancel: Some(cancel),
        })
        .unwrap_err();
    let stopped = std::time::Instant::now();
    let cancelled_at = setter.join().unwrap();
    assert_eq!(err, ExecError::Cancelled);
    let lag = stopped.duration_since(cancelled_at).as_millis();
    assert!(lag < 500, "stopped {lag} ms after the cancel");
}

/// A program cannot wait on real time: a one-hour sleep (`poll_oneoff` on a clock) returns
/// ENOTSUP at once, so neither the wall-time limit nor a cancel is ever stuck behind it.
#[test]
fn sleeping_is_refused_not_waited_for() {
    let ex = executor();
    // One clock subscription, relative, 3600 s; exit with the errno poll_oneoff returned.
    let m = wasm(
        r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 1))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (i64.store (i32.const 32) (i64.const 1000))
    (i32.store16 (i32.const 40) (i32.const 0))
    (call $exit (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#,
    );
    let t = std::time::Instant::now();
    let out = run_with(&ex, &m, b"", limits()).unwrap();
    assert_eq!(out.exit_code, 58, "poll_oneoff answers ENOTSUP");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn memory_bomb_is_stopped() {
    let ex = executor();
    // Grows by 16 pages (1 MiB) forever; traps if a grow ever fails.
    let m = module(
        r#"(func (export "_start")
             (loop $l
               (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then (unreachable)))
               (br $l)))"#,
    );
    assert_eq!(
        run_with(&ex, &m, b"", limits()).unwrap_err(),
        ExecError::MemoryLimit
    );
    // A module whose initial memory (62.5 MiB) exceeds the job's limit (32 MiB) cannot start.
    let big = wasm(r#"(module (memory 1000) (func (export "_start")))"#);
    assert_eq!(
        run_with(&ex, &big, b"", limits()).unwrap_err(),
        ExecError::MemoryLimit
    );
    // One that declares more than the executor ever grants (125 MiB > 64 MiB) is refused outright.
    let huge = wasm(r#"(module (memory 2000) (func (export "_start")))"#);
    assert_eq!(
        run_with(&ex, &huge, b"", limits()).unwrap_err(),
        ExecError::InvalidModule
    );
}

#[test]
fn trap_is_a_trap() {
    let ex = executor();
    let m = module(r#"(func (export "_start") unreachable)"#);
    assert_eq!(
        run_with(&ex, &m, b"", limits()).unwrap_err(),
        ExecError::Trap
    );
    let oob = module(r#"(func (export "_start") (drop (i32.load (i32.const 70000))))"#);
    assert_eq!(
        run_with(&ex, &oob, b"", limits()).unwrap_err(),
        ExecError::Trap
    );
    let recurse = module(r#"(func $f (export "_start") (call $f))"#);
    assert_eq!(
        run_with(&ex, &recurse, b"", limits()).unwrap_err(),
        ExecError::Trap
    );
}

#[test]
fn output_flood_is_output_too_large() {
    let ex = executor();
    // Writes the first 64 KiB of memory to stdout, forever.
    let m = module(
        r#"(func (export "_start")
             (i32.store (i32.const 0) (i32.const 0))
             (i32.store (i32.const 4) (i32.const 65536))
             (loop $l
               (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
               (br $l)))"#,
    );
    let err = run_with(
        &ex,
        &m,
        b"",
        ExecLimits {
            output_bytes: 100_000,
            ..limits()
        },
    )
    .unwrap_err();
    assert_eq!(err, ExecError::OutputTooLarge);
}

#[test]
fn stderr_flood_is_truncated_not_fatal() {
    let ex = executor();
    let m = module(
        r#"(func (export "_start")
             (local $i i32)
             (i32.store (i32.const 0) (i32.const 0))
             (i32.store (i32.const 4) (i32.const 1000))
             (loop $l
               (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 100)))))"#,
    );
    let out = run_with(&ex, &m, b"", limits()).unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stderr.len(), limits().stderr_bytes);
}

#[test]
fn invalid_modules_are_rejected() {
    let ex = executor();
    assert_eq!(
        run_with(&ex, b"not wasm", b"", limits()).unwrap_err(),
        ExecError::InvalidModule
    );
    // No _start: a reactor, not a command.
    let reactor = wasm(r#"(module (func (export "run")))"#);
    assert_eq!(
        run_with(&ex, &reactor, b"", limits()).unwrap_err(),
        ExecError::InvalidModule
    );
    // Imports something other than WASI preview 1.
    let env = wasm(r#"(module (import "env" "open" (func)) (func (export "_start")))"#);
    assert_eq!(
        run_with(&ex, &env, b"", limits()).unwrap_err(),
        ExecError::InvalidModule
    );
}

#[test]
fn exit_codes_are_reported() {
    let ex = executor();
    let m = module(r#"(func (export "_start") (call $proc_exit (i32.const 3)))"#);
    assert_eq!(run_with(&ex, &m, b"", limits()).unwrap().exit_code, 3);
}

#[test]
fn no_filesystem_environment_or_args_beyond_name() {
    let ex = executor();
    // environ_sizes_get must report zero variables; path_open on fd 3 must fail (no preopens).
    let m = wasm(
        r#"(module
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $env (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (drop (call $env (i32.const 0) (i32.const 4)))
            (if (i32.load (i32.const 0)) (then (call $exit (i32.const 10))))
            ;; errno 8 = EBADF: there is no preopened directory.
            (if (i32.ne (call $prestat (i32.const 3) (i32.const 16)) (i32.const 8))
              (then (call $exit (i32.const 11))))))"#,
    );
    assert_eq!(run_with(&ex, &m, b"", limits()).unwrap().exit_code, 0);
}

#[test]
fn clock_and_randomness_are_deterministic() {
    let ex = executor();
    // Prints 8 bytes of wall-clock time and 16 random bytes.
    let m = wasm(
        r#"(module
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
          (import "wasi_snapshot_preview1" "random_get" (func $rand (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (export "_start")
            (if (call $clock (i32.const 0) (i64.const 1) (i32.const 96)) (then unreachable))
            (if (call $rand (i32.const 104) (i32.const 16)) (then unreachable))
            (i32.store (i32.const 0) (i32.const 96))
            (i32.store (i32.const 4) (i32.const 24))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    );
    let a = run_with(&ex, &m, b"", limits()).unwrap().stdout;
    let b = run_with(&ex, &m, b"", limits()).unwrap().stdout;
    assert_eq!(a, b, "same job, same clock and randomness");
    let nanos = u64::from_le_bytes(a[..8].try_into().unwrap());
    assert_eq!(
        nanos,
        1_700_000_000_000 * 1_000_000,
        "wall clock is the job's timestamp"
    );
    assert_ne!(&a[8..], &[0u8; 16]);
}

#[test]
fn executor_survives_hostile_modules_and_memory_stays_bounded() {
    let ex = executor();
    let bomb = module(
        r#"(func (export "_start")
             (loop $l
               (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then (unreachable)))
               (br $l)))"#,
    );
    let ok = module(r#"(func (export "_start"))"#);
    let rss_before = rss_kib();
    for _ in 0..40 {
        assert_eq!(
            run_with(&ex, &bomb, b"", limits()).unwrap_err(),
            ExecError::MemoryLimit
        );
        assert_eq!(run_with(&ex, &ok, b"", limits()).unwrap().exit_code, 0);
    }
    let grown = rss_kib().saturating_sub(rss_before);
    // 40 runs x 32 MiB would be 1.3 GiB if memories were kept; slots are decommitted instead.
    assert!(grown < 128 * 1024, "RSS grew by {grown} KiB");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
