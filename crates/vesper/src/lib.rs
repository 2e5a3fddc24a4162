//! The `vesper` binary's library side: a whole node, composed of `vesper-node`'s runtime and
//! `vesper-gateway`'s HTTP front end ([`node`]). The CLI (`main.rs`) and the end-to-end tests
//! (`tests/it/`) start nodes through it.

pub mod node;
