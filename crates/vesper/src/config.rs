//! `vesper.toml`: the node's configuration. Precedence: built-in defaults < the file <
//! `VESPER_<SECTION>_<KEY>` environment variables < command-line flags. Parsed once into
//! validated types; an invalid value is a startup error that names its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub node: NodeSection,
    pub log: LogSection,
    pub gateway: GatewaySection,
    pub limits: LimitsSection,
    pub quotas: QuotasSection,
    pub scheduler: SchedulerSection,
    pub worker: WorkerSection,
    pub callbacks: CallbacksSection,
    pub p2p: P2pSection,
    pub retention: RetentionSection,
}

/// The node fabric (docs/NETWORK.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct P2pSection {
    /// The node's home (identity, trusted_peers.json); "" = $VESPER_HOME or ~/.vesper.
    pub home: String,
    /// Multiaddrs to serve remote workers on (gateway/dev); empty = off.
    pub listen: Vec<String>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// Gateways a `vesper worker` dials (multiaddrs); empty with mdns = find one.
    pub connect: Vec<String>,
    /// A remote worker's locality label and asking price per million fuel.
    pub region: String,
    pub price_per_mfuel: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    pub data_dir: PathBuf,
    pub listen: String,
    /// In-process workers; 0 = one per core.
    pub workers: u32,
    /// The store: "" (embedded SQLite in data_dir), "memory", or "redis://HOST:PORT/DB".
    pub store: String,
    /// Key namespace in a shared store (Redis): clusters sharing one Redis differ here.
    pub namespace: String,
    /// The pool's secret key file (workers); "" = keys/pool.x25519 in data_dir.
    pub pool_key: String,
    /// Run in-process workers (dev); false = only remote workers serve jobs.
    pub local_workers: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing filter (`info`, `vesper_gateway=debug,info`, …). `VESPER_LOG` also works.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// When set, also write gateway.log, worker.log and scheduler.log here.
    pub dir: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    pub max_submit_bytes: u64,
    pub max_wait_secs: u64,
    pub max_batch: u32,
    pub wallet_window_secs: u64,
    pub max_streams: u32,
    /// HTTP connections open at once, in all and from one IP address.
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    /// Time a client has to send a request's head (also the idle limit of a kept-alive
    /// connection), seconds.
    pub header_timeout_secs: u64,
    /// Proof-gated routes (docs/DSL.md §10): `[[gateway.proof_gates]]` tables.
    #[serde(default)]
    pub proof_gates: Vec<ProofGateSection>,
    /// Credits one proof costs, taken from the tenant's prepaid credits (docs/DSL.md §10);
    /// 0 turns the payment check off.
    pub proof_price: u64,
}

/// One proof-gated route.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProofGateSection {
    /// A path (without query), exact, or a prefix when it ends with `*`.
    pub path: String,
    /// The tenant and customer id of the deployment whose proofs open the gate.
    pub tenant: String,
    pub customer_id: String,
    /// Public inputs a proof must state: name (`public_params.min_age`) → decimal value.
    #[serde(default)]
    pub require: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Requests per second per tenant (0 = unlimited) and the burst above it.
    pub tenant_rate_per_sec: u32,
    pub tenant_burst: u32,
    /// Requests per second per client IP (0 = unlimited) and the burst above it.
    pub ip_rate_per_sec: u32,
    pub ip_burst: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasSection {
    /// Defaults for tenants without their own; 0 = unlimited.
    pub max_queued: u64,
    pub jobs_per_day: u64,
    pub max_payload_bytes: u64,
    pub max_fuel: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerSection {
    /// Head start, in jobs, of priority 10 over priority 1 across tenants.
    pub quantum: u32,
    /// Jobs of head start a tenant returning from idle gets.
    pub burst: u32,
    /// How often expired leases are swept, milliseconds.
    pub reap_interval_ms: u64,
    /// Which idle remote worker gets the next job: "scored", "round_robin" or
    /// "least_connections".
    pub placement: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSection {
    pub lease_ms: u64,
    pub result_ttl_secs: u64,
    pub fuel: u64,
    pub memory_mb: u64,
    pub wall_ms: u64,
}

/// What the store forgets, and when (docs/STORAGE.md, "Retention").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// How long a finished job (with its result, callbacks and idempotency key) is kept after
    /// it finished: a duration like "30d" or "12h", or "off" to keep jobs forever.
    pub jobs: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct CallbacksSection {
    /// CIDR ranges callbacks may reach although private or loopback (empty = none).
    pub allow_networks: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let gw = vesper_gateway::GatewayConfig::default();
        let limits = vesper_core::ExecLimits::default();
        let fair = vesper_core::sched::FairPolicy::default();
        Config {
            node: NodeSection::default(),
            log: LogSection::default(),
            gateway: GatewaySection {
                max_submit_bytes: gw.max_submit_bytes as u64,
                max_wait_secs: gw.max_wait_secs,
                max_batch: gw.max_batch as u32,
                wallet_window_secs: gw.wallet_window_secs,
                max_streams: gw.max_streams as u32,
                max_connections: gw.conn.max_connections as u32,
                max_connections_per_ip: gw.conn.max_connections_per_ip as u32,
                header_timeout_secs: gw.conn.header_timeout.as_secs(),
                proof_gates: Vec::new(),
                proof_price: gw.proof_price,
            },
            limits: LimitsSection {
                tenant_rate_per_sec: gw.limits.tenant_rate_per_sec,
                tenant_burst: gw.limits.tenant_burst,
                ip_rate_per_sec: gw.limits.ip_rate_per_sec,
                ip_burst: gw.limits.ip_burst,
            },
            quotas: QuotasSection {
                max_queued: gw.quotas.max_queued.unwrap_or(0),
                jobs_per_day: gw.quotas.jobs_per_day.unwrap_or(0),
                max_payload_bytes: gw.quotas.max_payload_bytes.unwrap_or(0),
                max_fuel: gw.quotas.max_fuel.unwrap_or(0),
            },
            scheduler: SchedulerSection {
                quantum: fair.quantum,
                burst: fair.burst,
                reap_interval_ms: 500,
                placement: "scored".into(),
            },
            worker: WorkerSection {
                lease_ms: 30_000,
                result_ttl_secs: 86_400,
                fuel: limits.fuel,
                memory_mb: (limits.memory_bytes >> 20) as u64,
                wall_ms: limits.wall_ms,
            },
            callbacks: CallbacksSection::default(),
            p2p: P2pSection::default(),
            retention: RetentionSection { jobs: "30d".into() },
        }
    }
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            data_dir: PathBuf::from(".vesper"),
            listen: "127.0.0.1:8080".into(),
            workers: 0,
            store: String::new(),
            namespace: "vesper".into(),
            pool_key: String::new(),
            local_workers: true,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: "text".into(),
            dir: String::new(),
        }
    }
}

// Section defaults come from the one place that knows them: `Config::default()`.
impl Default for GatewaySection {
    fn default() -> Self {
        Config::default().gateway
    }
}
impl Default for LimitsSection {
    fn default() -> Self {
        Config::default().limits
    }
}
impl Default for QuotasSection {
    fn default() -> Self {
        Config::default().quotas
    }
}
impl Default for SchedulerSection {
    fn default() -> Self {
        Config::default().scheduler
    }
}
impl Default for RetentionSection {
    fn default() -> Self {
        Config::default().retention
    }
}
impl Default for WorkerSection {
    fn default() -> Self {
        Config::default().worker
    }
}

/// The commented default file written by `vesper config init`.
pub const TEMPLATE: &str = include_str!("vesper.default.toml");

/// Where the config comes from when no `--config` is given.
pub const DEFAULT_PATH: &str = "vesper.toml";

/// Load: defaults, then the file (if `path` is given it must exist; else `./vesper.toml` if
/// present), then `VESPER_<SECTION>_<KEY>` variables from `env`.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(Config, Option<PathBuf>)> {
    let mut value = toml::Value::try_from(Config::default()).expect("defaults serialise");
    let file = match path {
        Some(p) => Some(p.to_owned()),
        None => Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()),
    };
    if let Some(p) = &file {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("reading config {}", p.display()))?;
        let from_file: toml::Value = toml::from_str(&text)
            .with_context(|| format!("config {} is not valid TOML", p.display()))?;
        merge(&mut value, from_file, p)?;
    }
    apply_env(&mut value, env)?;
    let cfg: Config = value.try_into().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("invalid configuration: {}", e.message().trim())
    })?;
    cfg.validate()?;
    Ok((cfg, file))
}

/// Overlay `over` on `base`, refusing unknown sections and keys by name.
fn merge(base: &mut toml::Value, over: toml::Value, file: &Path) -> anyhow::Result<()> {
    let (toml::Value::Table(base), toml::Value::Table(over)) = (base, over) else {
        bail!("config {} must be a table", file.display());
    };
    for (section, values) in over {
        let Some(toml::Value::Table(dst)) = base.get_mut(&section) else {
            bail!("config {}: unknown section [{section}]", file.display());
        };
        let toml::Value::Table(values) = values else {
            bail!("config {}: `{section}` must be a section", file.display());
        };
        for (key, v) in values {
            let Some(old) = dst.get(&key) else {
                bail!("config {}: unknown key `{section}.{key}`", file.display());
            };
            if old.type_str() != v.type_str() {
                bail!(
                    "config {}: `{section}.{key}` must be a {}, not a {}",
                    file.display(),
                    old.type_str(),
                    v.type_str()
                );
            }
            dst.insert(key, v);
        }
    }
    Ok(())
}

/// The environment variable that overrides `section.key`.
pub fn env_name(section: &str, key: &str) -> String {
    format!("VESPER_{}_{}", section, key).to_ascii_uppercase()
}

fn apply_env(value: &mut toml::Value, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let toml::Value::Table(sections) = value else {
        return Ok(());
    };
    for (section, table) in sections.iter_mut() {
        let toml::Value::Table(table) = table else {
            continue;
        };
        for (key, v) in table.iter_mut() {
            let name = env_name(section, key);
            let Some(raw) = env(&name) else { continue };
            let parsed = match v {
                toml::Value::String(_) => Ok(toml::Value::String(raw.clone())),
                toml::Value::Integer(_) => raw
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| "an integer"),
                toml::Value::Boolean(_) => raw
                    .trim()
                    .parse::<bool>()
                    .map(toml::Value::Boolean)
                    .map_err(|_| "true or false"),
                toml::Value::Array(_) => toml::from_str::<toml::Table>(&format!("v = {raw}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .filter(toml::Value::is_array)
                    .ok_or("a TOML array such as [\"10.0.0.0/8\"]"),
                _ => Err("a supported value"),
            };
            *v = parsed.map_err(|want| {
                anyhow::anyhow!("{name} (config key `{section}.{key}`) must be {want}, got {raw:?}")
            })?;
        }
    }
    Ok(())
}

impl Config {
    fn validate(&self) -> anyhow::Result<()> {
        self.listen()?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("config key `log.format` must be \"text\" or \"json\"");
        }
        if self.node.workers > 256 {
            bail!("config key `node.workers` must be at most 256");
        }
        if self.gateway.max_batch == 0 || self.gateway.max_batch > 10_000 {
            bail!("config key `gateway.max_batch` must be 1 to 10000");
        }
        if self.gateway.max_submit_bytes < 1024 || self.gateway.max_submit_bytes > 1 << 30 {
            bail!("config key `gateway.max_submit_bytes` must be 1 KiB to 1 GiB");
        }
        if self.worker.lease_ms < 1000 {
            bail!("config key `worker.lease_ms` must be at least 1000");
        }
        if self.scheduler.quantum == 0 {
            bail!("config key `scheduler.quantum` must be at least 1");
        }
        self.callback_networks()?;
        self.retention_jobs()?;
        self.p2p_listen()?;
        self.p2p_connect()?;
        self.placement()?;
        Ok(())
    }

    /// How long finished jobs are kept; `None` = forever (`retention.jobs = "off"`).
    pub fn retention_jobs(&self) -> anyhow::Result<Option<std::time::Duration>> {
        let v = self.retention.jobs.trim();
        if v == "off" {
            return Ok(None);
        }
        let d = humantime::parse_duration(v).map_err(|_| {
            anyhow::anyhow!(
                "config key `retention.jobs` must be a duration like \"30d\" or \"12h\", or \"off\", got {v:?}"
            )
        })?;
        if d < std::time::Duration::from_secs(1) {
            bail!("config key `retention.jobs` must be at least 1s, got {v:?}");
        }
        Ok(Some(d))
    }

    pub fn placement(&self) -> anyhow::Result<vesper_core::placement::Policy> {
        use vesper_core::placement::Policy;
        Ok(match self.scheduler.placement.as_str() {
            "scored" => Policy::Scored(Default::default()),
            "round_robin" => Policy::RoundRobin,
            "least_connections" => Policy::LeastConnections,
            other => bail!(
                "config key `scheduler.placement` must be \"scored\", \"round_robin\" or \"least_connections\", got {other:?}"
            ),
        })
    }

    fn multiaddrs(key: &str, v: &[String]) -> anyhow::Result<Vec<vesper_net::Multiaddr>> {
        v.iter()
            .map(|a| {
                a.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "config key `{key}` must hold multiaddrs like /ip4/0.0.0.0/tcp/9000, got {a:?}"
                    )
                })
            })
            .collect()
    }

    pub fn p2p_listen(&self) -> anyhow::Result<Vec<vesper_net::Multiaddr>> {
        Self::multiaddrs("p2p.listen", &self.p2p.listen)
    }

    pub fn p2p_connect(&self) -> anyhow::Result<Vec<vesper_net::Multiaddr>> {
        Self::multiaddrs("p2p.connect", &self.p2p.connect)
    }

    /// The node's home for its identity and trust list.
    pub fn p2p_home(&self) -> anyhow::Result<PathBuf> {
        if !self.p2p.home.is_empty() {
            return Ok(PathBuf::from(&self.p2p.home));
        }
        if let Some(h) = std::env::var_os("VESPER_HOME") {
            return Ok(PathBuf::from(h));
        }
        Ok(
            PathBuf::from(std::env::var_os("HOME").context("no HOME; set p2p.home or --home")?)
                .join(".vesper"),
        )
    }

    pub fn listen(&self) -> anyhow::Result<SocketAddr> {
        self.node.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "config key `node.listen` must be an address like 127.0.0.1:8080, got {:?}",
                self.node.listen
            )
        })
    }

    pub fn callback_networks(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.callbacks
            .allow_networks
            .iter()
            .map(|n| {
                n.parse::<ipnet::IpNet>().map_err(|_| {
                    anyhow::anyhow!(
                        "config key `callbacks.allow_networks` has {n:?}, which is not a CIDR range"
                    )
                })
            })
            .collect()
    }

    fn opt(v: u64) -> Option<u64> {
        (v > 0).then_some(v)
    }

    pub fn gateway_config(&self) -> anyhow::Result<vesper_gateway::GatewayConfig> {
        let mut gw = vesper_gateway::GatewayConfig::default();
        gw.max_submit_bytes = self.gateway.max_submit_bytes as usize;
        gw.max_wait_secs = self.gateway.max_wait_secs;
        gw.max_batch = self.gateway.max_batch as usize;
        gw.wallet_window_secs = self.gateway.wallet_window_secs;
        gw.max_streams = self.gateway.max_streams as usize;
        if self.gateway.max_connections == 0
            || self.gateway.max_connections_per_ip == 0
            || self.gateway.header_timeout_secs == 0
        {
            bail!(
                "config keys `gateway.max_connections`, `gateway.max_connections_per_ip` and \
                 `gateway.header_timeout_secs` must be at least 1"
            );
        }
        gw.conn = vesper_gateway::ConnLimits {
            max_connections: self.gateway.max_connections as usize,
            max_connections_per_ip: self.gateway.max_connections_per_ip as usize,
            header_timeout: std::time::Duration::from_secs(self.gateway.header_timeout_secs),
        };
        gw.limits = vesper_gateway::LimitsConfig {
            tenant_rate_per_sec: self.limits.tenant_rate_per_sec,
            tenant_burst: self.limits.tenant_burst,
            ip_rate_per_sec: self.limits.ip_rate_per_sec,
            ip_burst: self.limits.ip_burst,
        };
        gw.quotas = vesper_gateway::QuotaDefaults {
            max_queued: Self::opt(self.quotas.max_queued),
            jobs_per_day: Self::opt(self.quotas.jobs_per_day),
            max_payload_bytes: Self::opt(self.quotas.max_payload_bytes),
            max_fuel: Self::opt(self.quotas.max_fuel),
        };
        gw.callback_allow = self.callback_networks()?;
        gw.proof_price = self.gateway.proof_price;
        for (i, g) in self.gateway.proof_gates.iter().enumerate() {
            let at = format!("config `gateway.proof_gates[{i}]`");
            if !g.path.starts_with('/') || g.path.len() > 1024 {
                bail!("{at}: `path` is a path starting with /");
            }
            if !vesper_core::TenantId::valid_name(&g.tenant) {
                bail!("{at}: `tenant` is a tenant name");
            }
            if g.customer_id.is_empty() || g.customer_id.len() > 128 {
                bail!("{at}: `customer_id` is 1-128 characters");
            }
            for (k, v) in &g.require {
                if vesper_zk::field::parse(v).is_none() {
                    bail!("{at}: `require.{k}` is a decimal field element (as a string)");
                }
            }
            gw.proof_gates.push(vesper_gateway::gate::ProofGate {
                path: g.path.clone(),
                tenant: g.tenant.clone(),
                customer_id: g.customer_id.clone(),
                require: g
                    .require
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        Ok(gw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_template_is_exactly_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("vesper.toml");
        std::fs::write(&p, TEMPLATE).unwrap();
        let (cfg, _) = load(Some(&p), &no_env).unwrap();
        assert_eq!(cfg, Config::default());
        // And every key of the defaults appears in the template (commented out or not).
        let value = toml::Value::try_from(Config::default()).unwrap();
        for (section, table) in value.as_table().unwrap() {
            assert!(TEMPLATE.contains(&format!("[{section}]")), "[{section}]");
            for key in table.as_table().unwrap().keys() {
                assert!(TEMPLATE.contains(&format!("{key} =")), "{section}.{key}");
            }
        }
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.toml");
        std::fs::write(
            &p,
            "[limits]\ntenant_rate_per_sec = 7\n[node]\nworkers = 3\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "VESPER_NODE_WORKERS" => Some("5".to_owned()),
            "VESPER_CALLBACKS_ALLOW_NETWORKS" => Some("[\"10.1.0.0/16\"]".to_owned()),
            _ => None,
        };
        let (cfg, _) = load(Some(&p), &env).unwrap();
        assert_eq!(cfg.limits.tenant_rate_per_sec, 7);
        assert_eq!(cfg.node.workers, 5);
        assert_eq!(cfg.callback_networks().unwrap().len(), 1);
    }

    #[test]
    fn retention_is_a_duration_or_off() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.toml");
        let load_with = |text: &str| {
            std::fs::write(&p, text).unwrap();
            load(Some(&p), &no_env)
        };
        let (cfg, _) = load_with("").unwrap();
        assert_eq!(
            cfg.retention_jobs().unwrap(),
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        let (cfg, _) = load_with("[retention]\njobs = \"off\"\n").unwrap();
        assert_eq!(cfg.retention_jobs().unwrap(), None);
        let (cfg, _) = load_with("[retention]\njobs = \"7d\"\n").unwrap();
        assert_eq!(
            cfg.retention_jobs().unwrap(),
            Some(std::time::Duration::from_secs(7 * 86_400))
        );
        for bad in ["soon", "10ms", ""] {
            let e = format!(
                "{:#}",
                load_with(&format!("[retention]\njobs = \"{bad}\"\n")).unwrap_err()
            );
            assert!(e.contains("`retention.jobs`"), "{bad}: {e}");
        }
        let env = |k: &str| (k == "VESPER_RETENTION_JOBS").then(|| "12h".to_owned());
        let (cfg, _) = load(None, &env).unwrap();
        assert_eq!(
            cfg.retention_jobs().unwrap(),
            Some(std::time::Duration::from_secs(12 * 3600))
        );
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.toml");
        let err = |text: &str| {
            std::fs::write(&p, text).unwrap();
            format!("{:#}", load(Some(&p), &no_env).unwrap_err())
        };
        assert!(err("[limits]\ntenant_rate = 1\n").contains("`limits.tenant_rate`"));
        assert!(err("[nope]\n").contains("[nope]"));
        assert!(err("[node]\nworkers = \"two\"\n").contains("`node.workers`"));
        assert!(err("[node]\nlisten = \"here\"\n").contains("`node.listen`"));
        assert!(
            err("[callbacks]\nallow_networks = [\"x\"]\n").contains("callbacks.allow_networks")
        );
        std::fs::write(&p, "").unwrap();
        let env = |k: &str| (k == "VESPER_LIMITS_IP_BURST").then(|| "lots".to_owned());
        let e = format!("{:#}", load(Some(&p), &env).unwrap_err());
        assert!(
            e.contains("VESPER_LIMITS_IP_BURST") && e.contains("`limits.ip_burst`"),
            "{e}"
        );
    }
}
