#![no_main]
//! Any bytes: decoding never panics; whatever decodes re-encodes and decodes to itself.
use libfuzzer_sys::fuzz_target;
use vesper_proto::{Decoded, decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(Decoded::Frame(m, used)) = decode(data) {
        assert!(used <= data.len());
        let again = encode(&m).expect("a decoded message encodes");
        assert_eq!(decode(&again), Ok(Decoded::Frame(m, again.len())));
    }
});
