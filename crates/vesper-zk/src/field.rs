//! Field elements of BN254's scalar field (`Fr`): how DSL values and JSON strings become
//! them, and how they are written (decimal, as snarkjs does).

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use sha2::{Digest, Sha256};

/// A signed integer as a field element (negative values are `p - |v|`).
pub fn from_i128(v: i128) -> Fr {
    let f = Fr::from(v.unsigned_abs());
    if v < 0 { -f } else { f }
}

/// A `string` value: SHA-256 of its UTF-8 bytes, as a big-endian number, reduced modulo `p`.
pub fn from_string(s: &str) -> Fr {
    Fr::from_be_bytes_mod_order(&Sha256::digest(s.as_bytes()))
}

/// A canonical decimal (`0` to `p - 1`, no sign, no leading zero) or `0x` + lowercase hex
/// (at most 64 digits), below the modulus. Anything else is `None`: never reduced silently.
pub fn parse(s: &str) -> Option<Fr> {
    let big = if let Some(h) = s.strip_prefix("0x") {
        if h.is_empty()
            || h.len() > 64
            || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        let padded = format!("{h:0>64}");
        let bytes = hex::decode(padded).ok()?;
        num_from_be(&bytes)?
    } else {
        if s.is_empty()
            || s.len() > 78
            || !s.bytes().all(|b| b.is_ascii_digit())
            || (s.len() > 1 && s.starts_with('0'))
        {
            return None;
        }
        let mut acc = [0u8; 32];
        for d in s.bytes() {
            // acc = acc * 10 + d, in 256-bit big-endian arithmetic; overflow means too large.
            let mut carry = (d - b'0') as u32;
            for byte in acc.iter_mut().rev() {
                let v = (*byte as u32) * 10 + carry;
                *byte = v as u8;
                carry = v >> 8;
            }
            if carry != 0 {
                return None;
            }
        }
        num_from_be(&acc)?
    };
    Some(big)
}

/// The field element with these 32 big-endian bytes, if below the modulus.
fn num_from_be(bytes: &[u8]) -> Option<Fr> {
    let f = Fr::from_be_bytes_mod_order(bytes);
    let back = f.into_bigint().to_bytes_be();
    (back == bytes).then_some(f)
}

/// Decimal, as snarkjs writes field elements.
pub fn to_decimal(f: &Fr) -> String {
    f.into_bigint().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const P_MINUS_1: &str =
        "21888242871839275222246405745257275088548364400416034343698204186575808495616";

    #[test]
    fn parses_canonical_forms_only() {
        assert_eq!(parse("0"), Some(Fr::from(0u8)));
        assert_eq!(parse("12345"), Some(Fr::from(12345u32)));
        assert_eq!(parse("0x3039"), Some(Fr::from(12345u32)));
        assert_eq!(parse(P_MINUS_1), Some(-Fr::from(1u8)));
        // p itself, p + 1, leading zeros, signs, uppercase hex: refused.
        assert_eq!(
            parse("21888242871839275222246405745257275088548364400416034343698204186575808495617"),
            None
        );
        assert_eq!(parse("007"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("0xABC"), None);
        assert_eq!(parse(""), None);
        assert_eq!(to_decimal(&from_i128(-1)), P_MINUS_1);
        assert_eq!(to_decimal(&from_i128(42)), "42");
    }
}
