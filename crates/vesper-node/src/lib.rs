//! Role runtimes: the pool worker, and `dev`, which runs gateway, scheduler and workers in one
//! process over the embedded store.
//!
//! **Invariant:** the worker is the only component that holds pool secret keys and sees
//! plaintext; it zeroizes plaintext buffers after use and logs job ids and error codes only.
//! In `dev` the gateway shares the process but receives only public keys.

pub mod datadir;
pub mod dev;
mod error;
pub mod remote;
pub mod source;
pub mod worker;

pub use error::NodeError;
