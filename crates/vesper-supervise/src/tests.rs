use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

const FAST: Policy = Policy::Restart(Backoff {
    initial: Duration::from_millis(10),
    max: Duration::from_millis(40),
    reset_after: Duration::from_secs(60),
});

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn status(h: &Health, name: &str) -> TaskStatus {
    h.report()
        .tasks
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

#[tokio::test]
async fn a_panicking_task_is_restarted_and_reported_degraded_meanwhile() {
    let sup = Supervisor::new(CancellationToken::new());
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    sup.spawn("worker/w0", FAST, move |stop| {
        let n = r.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                panic!("boom {n}");
            }
            stop.cancelled().await;
        }
    });
    let health = sup.health();
    until("two restarts", || runs.load(Ordering::SeqCst) == 3).await;
    until("running", || {
        status(&health, "worker/w0").state == TaskState::Running
    })
    .await;
    let s = status(&health, "worker/w0");
    assert_eq!(s.restarts, 2);
    // Restarted a moment ago: still degraded, within the window.
    assert!(s.degraded && health.report().is_degraded());
    assert_eq!(
        health
            .report()
            .degraded()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["worker/w0"]
    );
    assert_eq!(sup.shutdown(Duration::from_secs(5)).await, Ok(()));
    assert_eq!(status(&health, "worker/w0").state, TaskState::Stopped);
    assert!(!health.report().is_degraded());
}

#[tokio::test]
async fn the_degraded_window_ends() {
    let sup = Supervisor::with_degraded_for(CancellationToken::new(), Duration::from_millis(100));
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    sup.spawn("sweep", FAST, move |stop| {
        let n = r.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                return Err("store gone");
            }
            stop.cancelled().await;
            Ok(())
        }
    });
    let health = sup.health();
    until("degraded", || health.report().is_degraded()).await;
    until("recovered", || {
        let s = status(&health, "sweep");
        s.state == TaskState::Running && s.restarts == 1 && !s.degraded
    })
    .await;
    sup.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn a_fail_fast_task_stops_the_node_and_shutdown_names_it() {
    let stop = CancellationToken::new();
    let sup = Supervisor::new(stop.clone());
    let other_stopped = Arc::new(AtomicU32::new(0));
    let o = other_stopped.clone();
    sup.spawn("worker/w0", Policy::RESTART, move |stop| {
        let o = o.clone();
        async move {
            stop.cancelled().await;
            o.fetch_add(1, Ordering::SeqCst);
        }
    });
    sup.spawn_once("http", async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if true {
            panic!("the server broke");
        }
    });
    tokio::time::timeout(Duration::from_secs(10), stop.cancelled())
        .await
        .expect("the fail-fast task cancels the stop token");
    let health = sup.health();
    assert_eq!(status(&health, "http").state, TaskState::Failed);
    assert!(health.report().is_degraded());
    let err = sup.shutdown(Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.task, "http");
    assert!(err.error.contains("the server broke"), "{err}");
    assert_eq!(
        other_stopped.load(Ordering::SeqCst),
        1,
        "the others drained"
    );
}

#[tokio::test]
async fn returning_before_shutdown_is_a_failure() {
    let stop = CancellationToken::new();
    let sup = Supervisor::new(stop.clone());
    sup.spawn_once("p2p/pool", async {});
    tokio::time::timeout(Duration::from_secs(10), stop.cancelled())
        .await
        .unwrap();
    let err = sup.shutdown(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.task, "p2p/pool");
    assert!(err.error.starts_with("exited"), "{err}");
}

#[tokio::test]
async fn shutdown_aborts_what_outlives_the_deadline() {
    let sup = Supervisor::new(CancellationToken::new());
    let dropped = Arc::new(AtomicU32::new(0));
    struct Guard(Arc<AtomicU32>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let d = dropped.clone();
    sup.spawn("stubborn", Policy::RESTART, move |_| {
        let g = Guard(d.clone());
        async move {
            let _g = g;
            std::future::pending::<()>().await
        }
    });
    let t = Instant::now();
    assert_eq!(sup.shutdown(Duration::from_millis(50)).await, Ok(()));
    assert!(t.elapsed() < Duration::from_secs(5));
    until("aborted", || dropped.load(Ordering::SeqCst) == 1).await;
}

#[tokio::test]
async fn names_are_unique_and_a_panic_in_shutdown_does_not_restart() {
    let sup = Supervisor::new(CancellationToken::new());
    let runs = Arc::new(AtomicU32::new(0));
    for _ in 0..2 {
        let r = runs.clone();
        sup.spawn("w", FAST, move |stop| {
            r.fetch_add(1, Ordering::SeqCst);
            async move {
                stop.cancelled().await;
                if true {
                    panic!("late");
                }
            }
        });
    }
    let names: Vec<String> = sup
        .health()
        .report()
        .tasks
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["w", "w#2"]);
    // Restart tasks report no node failure.
    assert_eq!(sup.shutdown(Duration::from_secs(5)).await, Ok(()));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(Health::none().report().tasks.is_empty());
}
