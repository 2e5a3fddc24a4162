//! The proof gateway's compiler (docs/DSL.md): a JSON rule DSL is checked ([`dsl`]), compiled
//! to an R1CS circuit over BN254's scalar field, and proved with Groth16 (arkworks). Exports
//! follow snarkjs's JSON formats so that third parties verify with their own tools.
//!
//! **Boundary:** pure computation, no I/O, no clock, no async; the one owner of arkworks.

pub mod circuit;
pub mod dsl;
pub mod export;
pub mod field;
pub mod groth;
pub mod inputs;
pub mod merkle;
pub mod poseidon;
pub mod solidity;
pub mod templates;
