//! Integration tests for vesper-crypto: official HPKE vectors and a second implementation.

mod cross_impl;
mod rfc9180;
