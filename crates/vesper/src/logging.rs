//! The tracing subscriber: stderr (text or JSON lines), plus per-component files when a log
//! directory is given (the seed's gateway/worker/scheduler logs). `VESPER_LOG` overrides the
//! configured filter.
//!
//! Log lines carry ids, codes and sizes, never payloads, results or keys (see the privacy
//! canary test).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry};

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// Which targets go to which file.
const COMPONENTS: &[(&str, &[&str])] = &[
    ("gateway.log", &["vesper_gateway", "tower_http"]),
    ("worker.log", &["vesper_node::worker", "vesper_exec"]),
    (
        "scheduler.log",
        &["vesper_node::dev", "vesper_store", "vesper_supervise"],
    ),
];

fn fmt_layer<W>(writer: W, json: bool, ansi: bool) -> Boxed
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    if json {
        base.json()
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    } else {
        base.boxed()
    }
}

pub fn init(level: &str, json: bool, dir: Option<&str>) -> anyhow::Result<()> {
    let filter = match std::env::var("VESPER_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).context("VESPER_LOG is not a valid filter")?
        }
        _ => EnvFilter::try_new(level)
            .with_context(|| format!("config key `log.level`: {level:?} is not a valid filter"))?,
    };
    let max = filter.max_level_hint().unwrap_or(LevelFilter::INFO);
    let mut layers: Vec<Boxed> = vec![
        fmt_layer(
            std::io::stderr,
            json,
            !json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .with_filter(filter)
        .boxed(),
    ];
    if let Some(dir) = dir {
        let dir = Path::new(dir);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating log dir {}", dir.display()))?;
        for (file, targets) in COMPONENTS {
            let path = dir.join(file);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            let targets = targets
                .iter()
                .fold(Targets::new(), |t, name| t.with_target(*name, max));
            layers.push(
                fmt_layer(Mutex::new(f), json, false)
                    .with_filter(targets)
                    .boxed(),
            );
        }
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .context("installing the log subscriber")?;
    Ok(())
}
