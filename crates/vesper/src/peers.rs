//! `vesper id` and `vesper peers`: the node's identity and its explicit trust list, under the
//! node's home (`~/.vesper`, or `--home` / `VESPER_HOME`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use vesper_net::{NodeIdentity, TrustList};

#[derive(Args)]
pub struct HomeOpts {
    /// The node's home (identity, trusted_peers.json) [default: ~/.vesper].
    #[arg(long, global = true, env = "VESPER_HOME")]
    home: Option<PathBuf>,
}

impl HomeOpts {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        match &self.home {
            Some(h) => Ok(h.clone()),
            None => Ok(
                PathBuf::from(std::env::var_os("HOME").context("no HOME; pass --home")?)
                    .join(".vesper"),
            ),
        }
    }
}

#[derive(Args)]
pub struct IdArgs {
    #[command(flatten)]
    home: HomeOpts,
}

/// Print this node's PeerId (creating the identity on first use).
pub fn id(a: IdArgs) -> anyhow::Result<ExitCode> {
    let path = a.home.dir()?.join(vesper_net::IDENTITY_FILE);
    let id = NodeIdentity::load_or_create(&path)
        .with_context(|| format!("identity at {}", path.display()))?;
    println!("{}", id.peer_id());
    eprintln!(
        "public key {} (secret in {}, 0600)",
        hex::encode(id.public_key()),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct PeersArgs {
    #[command(flatten)]
    home: HomeOpts,
    #[command(subcommand)]
    cmd: PeersCmd,
}

#[derive(Subcommand)]
enum PeersCmd {
    /// Trust a peer (both sides must add each other).
    Add {
        peer_id: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Show the trusted peers.
    List,
    /// Stop trusting a peer (by PeerId or name).
    Remove { peer: String },
}

pub fn peers(a: PeersArgs) -> anyhow::Result<ExitCode> {
    let path = a.home.dir()?.join(vesper_net::TRUST_FILE);
    let mut list = TrustList::load(&path)?;
    match a.cmd {
        PeersCmd::Add { peer_id, name } => {
            let now = vesper_core::Clock::now(&vesper_core::SystemClock).0;
            let id = list.add(&peer_id, &name, now)?;
            list.save(&path)?;
            println!(
                "trusted {id}{}",
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" ({name})")
                }
            );
        }
        PeersCmd::List => {
            if list.peers.is_empty() {
                println!("no trusted peers ({})", path.display());
            }
            for p in &list.peers {
                println!("{}\t{}", p.peer_id, p.name);
            }
        }
        PeersCmd::Remove { peer } => {
            let p = list.remove(&peer)?;
            list.save(&path)?;
            println!("removed {}", p.peer_id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
