//! Role runtimes: the pool worker, the remote pool (gateway side of `/vesper/jobs/1`) and the
//! remote worker, and `dev`, which assembles a node's runtime parts for a role and runs them
//! under a [`vesper_supervise::Supervisor`]. No HTTP here: the binary composes the gateway on
//! top of a started [`dev::Node`].
//!
//! **Invariant:** the worker is the only component that holds pool secret keys and sees
//! plaintext; it zeroizes plaintext buffers after use and logs job ids and error codes only.
//! In `dev` the gateway shares the process but receives only public keys.

pub mod datadir;
pub mod dev;
mod error;
pub mod handin;
pub mod remote;
pub mod source;
pub mod worker;
pub mod zk;

pub use error::NodeError;
