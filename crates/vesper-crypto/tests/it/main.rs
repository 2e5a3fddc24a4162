//! Integration tests for vesper-crypto: official HPKE vectors, second implementations of HPKE
//! and of wallet signing.

mod cross_impl;
mod rfc9180;
mod wallet;
