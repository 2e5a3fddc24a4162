//! Wallet-signature request authentication, the pure parts (docs/AUTH.md §3): wallet ids, the
//! canonical request string a wallet signs, and the nonce, timestamp and window checks.
//!
//! The gateway reads the headers, asks the store about nonces and tenants, and calls
//! `vesper_crypto::verify_wallet_signature` on [`canonical_request`]'s bytes. Nothing here
//! reads a clock: `now` is passed in.

use std::fmt;
use std::str::FromStr;

use crate::{CoreError, Timestamp, sha256};

/// First line of the canonical request: names the scheme and its version.
pub const AUTH_DOMAIN: &str = "vesper-auth-v1";
/// How far a request's timestamp may be from the gateway's clock, either way, in seconds.
pub const AUTH_WINDOW_SECS: u64 = 300;
/// Shortest nonce accepted, in characters.
pub const NONCE_MIN_LEN: usize = 16;
/// Longest nonce accepted, in characters.
pub const NONCE_MAX_LEN: usize = 64;

/// A wallet that can sign requests.
///
/// Text form (the `X-Vesper-Wallet` header, and the last line of the canonical request):
/// `ed25519:<64 lowercase hex>` or `eip191:0x<40 hex>`. An Ethereum address is accepted in
/// any case (EIP-55 checksums are not checked) and always printed in lowercase.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WalletId {
    /// An Ed25519 public key (Solana, Cardano and similar wallets).
    Ed25519([u8; 32]),
    /// An Ethereum account address, signing with EIP-191 `personal_sign` over secp256k1.
    Eth([u8; 20]),
}

const ED25519_PREFIX: &str = "ed25519:";
const EIP191_PREFIX: &str = "eip191:0x";

impl fmt::Display for WalletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletId::Ed25519(pk) => write!(f, "{ED25519_PREFIX}{}", hex::encode(pk)),
            WalletId::Eth(addr) => write!(f, "{EIP191_PREFIX}{}", hex::encode(addr)),
        }
    }
}

impl fmt::Debug for WalletId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletId({self})")
    }
}

impl FromStr for WalletId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        const WHAT: &str = "wallet id";
        if let Some(h) = s.strip_prefix(ED25519_PREFIX) {
            // One spelling per key: lowercase only.
            if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(CoreError::Invalid { what: WHAT });
            }
            let mut pk = [0u8; 32];
            hex::decode_to_slice(h, &mut pk).map_err(|_| CoreError::Invalid { what: WHAT })?;
            Ok(WalletId::Ed25519(pk))
        } else if let Some(h) = s.strip_prefix(EIP191_PREFIX) {
            // Addresses are case-insensitive (EIP-55 mixed case is accepted, not checked).
            if h.len() != 40 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CoreError::Invalid { what: WHAT });
            }
            let mut addr = [0u8; 20];
            hex::decode_to_slice(h, &mut addr).map_err(|_| CoreError::Invalid { what: WHAT })?;
            Ok(WalletId::Eth(addr))
        } else {
            Err(CoreError::Invalid { what: WHAT })
        }
    }
}

/// The exact string a wallet signs (docs/AUTH.md §3.2): seven lines joined by `\n`, no
/// trailing newline.
///
/// ```text
/// vesper-auth-v1
/// <METHOD, uppercased>
/// <path and query exactly as sent>
/// <lowercase hex SHA-256 of the raw body>
/// <timestamp, decimal seconds>
/// <nonce>
/// <wallet id, canonical form>
/// ```
///
/// The caller checks the nonce with [`valid_nonce`] first; a method or path from an HTTP
/// request line cannot contain a newline.
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
    wallet: &WalletId,
) -> String {
    format!(
        "{AUTH_DOMAIN}\n{}\n{path_and_query}\n{}\n{timestamp}\n{nonce}\n{wallet}",
        method.to_ascii_uppercase(),
        hex::encode(sha256(&[body])),
    )
}

/// A nonce is 16 to 64 characters from `A–Z a–z 0–9 _ -`.
pub fn valid_nonce(nonce: &str) -> bool {
    (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parse the `X-Vesper-Timestamp` header: unix seconds in decimal, digits only, no sign, no
/// leading zero (so each time has one spelling). `None` for anything else or on overflow.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Whether a request signed at `ts_secs` (unix seconds) is at most `window_secs` away from
/// `now`, in either direction. Both bounds are inclusive.
pub fn within_window(ts_secs: u64, now: Timestamp, window_secs: u64) -> bool {
    let ts_ms = u128::from(ts_secs) * 1000;
    let now_ms = u128::from(now.millis());
    ts_ms.abs_diff(now_ms) <= u128::from(window_secs) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK_HEX: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    #[test]
    fn wallet_id_round_trips() {
        let s = format!("ed25519:{PK_HEX}");
        let w: WalletId = s.parse().unwrap();
        assert_eq!(
            w,
            WalletId::Ed25519(hex::decode(PK_HEX).unwrap().try_into().unwrap())
        );
        assert_eq!(w.to_string(), s);

        let e: WalletId = "eip191:0x52908400098527886e0f7030069857d2e4169ee7"
            .parse()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "eip191:0x52908400098527886e0f7030069857d2e4169ee7"
        );
        assert!(format!("{e:?}").contains("eip191:0x5290"));
    }

    #[test]
    fn eth_address_is_case_insensitive_and_printed_lowercase() {
        // EIP-55 checksummed spelling of the address above.
        let mixed: WalletId = "eip191:0x52908400098527886E0F7030069857D2E4169EE7"
            .parse()
            .unwrap();
        let lower: WalletId = "eip191:0x52908400098527886e0f7030069857d2e4169ee7"
            .parse()
            .unwrap();
        assert_eq!(mixed, lower);
        assert_eq!(
            mixed.to_string(),
            "eip191:0x52908400098527886e0f7030069857d2e4169ee7"
        );
    }

    #[test]
    fn wallet_id_rejects_other_spellings() {
        let upper = format!("ed25519:{}", PK_HEX.to_ascii_uppercase());
        let short = format!("ed25519:{}", &PK_HEX[..62]);
        let long = format!("ed25519:{PK_HEX}00");
        let bad = [
            "",
            "ed25519:",
            upper.as_str(),
            short.as_str(),
            long.as_str(),
            "ED25519:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "ed25519: 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660",
            "ed25519:3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660g",
            "eip191:52908400098527886e0f7030069857d2e4169ee7",
            "eip191:0X52908400098527886e0f7030069857d2e4169ee7",
            "eip191:0x52908400098527886e0f7030069857d2e4169ee",
            "eip191:0x52908400098527886e0f7030069857d2e4169ee700",
            "eip191:0x52908400098527886e0f7030069857d2e4169eeg",
            "eth:0x52908400098527886e0f7030069857d2e4169ee7",
            "0x52908400098527886e0f7030069857d2e4169ee7",
        ];
        for s in bad {
            assert_eq!(
                s.parse::<WalletId>(),
                Err(CoreError::Invalid { what: "wallet id" }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn canonical_request_has_the_documented_shape() {
        let w: WalletId = format!("ed25519:{PK_HEX}").parse().unwrap();
        let s = canonical_request(
            "post",
            "/api/jobs?status=queued",
            b"",
            1_700_000_000,
            "abcdefghijklmnop",
            &w,
        );
        assert_eq!(
            s,
            format!(
                "vesper-auth-v1\nPOST\n/api/jobs?status=queued\n\
                 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
                 1700000000\nabcdefghijklmnop\ned25519:{PK_HEX}"
            )
        );
        assert!(!s.ends_with('\n'));
        assert_eq!(s.lines().count(), 7);
    }

    #[test]
    fn canonical_request_binds_every_field() {
        let a: WalletId = format!("ed25519:{PK_HEX}").parse().unwrap();
        let b = WalletId::Eth([7; 20]);
        let base = canonical_request("POST", "/api/submit", b"{}", 1, "n0123456789abcdef", &a);
        let variants = [
            canonical_request("GET", "/api/submit", b"{}", 1, "n0123456789abcdef", &a),
            canonical_request("POST", "/api/submit?x=1", b"{}", 1, "n0123456789abcdef", &a),
            canonical_request("POST", "/api/submit", b"{ }", 1, "n0123456789abcdef", &a),
            canonical_request("POST", "/api/submit", b"{}", 2, "n0123456789abcdef", &a),
            canonical_request("POST", "/api/submit", b"{}", 1, "n0123456789abcdeg", &a),
            canonical_request("POST", "/api/submit", b"{}", 1, "n0123456789abcdef", &b),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }

    #[test]
    fn nonces() {
        assert!(valid_nonce("abcdefghijklmnop"));
        assert!(valid_nonce("A-Z_a-z_0-9_____"));
        assert!(valid_nonce(&"x".repeat(64)));
        assert!(!valid_nonce("abcdefghijklmno")); // 15
        assert!(!valid_nonce(&"x".repeat(65)));
        assert!(!valid_nonce(""));
        assert!(!valid_nonce("abcdefghijklmno="));
        assert!(!valid_nonce("abcdefghijklmno\n"));
        assert!(!valid_nonce("abcdefghijklmno "));
        assert!(!valid_nonce("abcdefghijklmnoé"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("0"), Some(0));
        assert_eq!(parse_timestamp("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "01700000000",
            "00",
            "+1700000000",
            "-1700000000",
            " 1700000000",
            "1700000000 ",
            "1.7e9",
            "1700000000.5",
            "18446744073709551616",
            "0x10",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn window_is_inclusive_both_ways() {
        let now = Timestamp(1_700_000_000_500);
        let w = AUTH_WINDOW_SECS;
        assert!(within_window(1_700_000_000, now, w));
        // 1_699_999_700 s is 300.5 s before now: outside; one second later is inside.
        assert!(!within_window(1_699_999_700, now, w));
        assert!(within_window(1_699_999_701, now, w));
        assert!(within_window(1_700_000_300, now, w));
        assert!(!within_window(1_700_000_301, now, w));
        // Exactly on the bound, with a whole-second clock.
        let now = Timestamp(1_700_000_000_000);
        assert!(within_window(1_699_999_700, now, w));
        assert!(within_window(1_700_000_300, now, w));
        assert!(!within_window(1_700_000_301, now, w));
        // Extremes do not overflow.
        assert!(!within_window(u64::MAX, now, w));
        assert!(!within_window(0, now, w));
        assert!(within_window(u64::MAX, Timestamp(u64::MAX), u64::MAX));
        assert!(within_window(0, Timestamp(0), 0));
    }
}
