//! RFC 9180 Appendix A.1 vectors run through the `hpke` crate that Vesper's envelopes use:
//! same KEM (DHKEM(X25519, HKDF-SHA256)), same KDF and key schedule as our suite; the AEAD in
//! the published vectors is AES-128-GCM.

use std::collections::BTreeMap;

use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256 as Kem;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, PskBundle, Serializable};

type Rec = BTreeMap<String, String>;

struct Suite {
    setup: Rec,
    encryptions: Vec<Rec>,
    exports: Vec<Rec>,
}

fn parse() -> Vec<Suite> {
    let text = include_str!("../vectors/hpke-rfc9180-appendix-A1-x25519-sha256-aes128gcm.txt");
    let mut suites: Vec<Suite> = Vec::new();
    let mut part = "";
    let mut in_block = false;
    let mut rec = Rec::new();
    let mut last_key = String::new();
    let flush = |suites: &mut Vec<Suite>, part: &str, rec: &mut Rec| {
        if rec.is_empty() {
            return;
        }
        let s = suites.last_mut().expect("suite");
        let r = std::mem::take(rec);
        match part {
            "setup" => s.setup = r,
            "enc" => s.encryptions.push(r),
            "exp" => s.exports.push(r),
            _ => unreachable!(),
        }
    };
    for line in text.lines() {
        let line = line.trim_end();
        if line == "~~~" {
            if in_block {
                flush(&mut suites, part, &mut rec);
            }
            in_block = !in_block;
            continue;
        }
        if !in_block {
            if line.starts_with("### ") {
                suites.push(Suite {
                    setup: Rec::new(),
                    encryptions: vec![],
                    exports: vec![],
                });
                part = "setup";
            } else if line.starts_with("#### Encryptions") {
                part = "enc";
            } else if line.starts_with("#### Exported") {
                part = "exp";
            }
            continue;
        }
        if line.is_empty() {
            flush(&mut suites, part, &mut rec);
            continue;
        }
        match line.split_once(':') {
            Some((k, v))
                if k.chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '_' || c == ' ') =>
            {
                last_key = k.to_string();
                rec.insert(last_key.clone(), v.trim().to_string());
            }
            _ => rec
                .get_mut(&last_key)
                .expect("continuation")
                .push_str(line.trim()),
        }
    }
    suites
}

fn h(r: &Rec, k: &str) -> Vec<u8> {
    hex::decode(r.get(k).unwrap_or_else(|| panic!("missing {k}"))).unwrap()
}

fn clamp(mut k: Vec<u8>) -> Vec<u8> {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

/// An RNG that replays fixed bytes: makes the sender's ephemeral key the vector's `ikmE`.
struct Replay(Vec<u8>);
impl TryRng for Replay {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unimplemented!()
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unimplemented!()
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert!(dst.len() <= self.0.len(), "replay rng exhausted");
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl TryCryptoRng for Replay {}

#[test]
fn appendix_a1_all_modes() {
    let suites = parse();
    assert_eq!(suites.len(), 4, "base, psk, auth, authpsk");
    let mut checked_encryptions = 0;
    for s in &suites {
        let mode: u8 = s.setup["mode"].parse().unwrap();
        assert_eq!(s.setup["kem_id"], "32");
        assert_eq!(s.setup["kdf_id"], "1");
        assert_eq!(s.setup["aead_id"], "1");
        let info = h(&s.setup, "info");

        // KEM key derivation.
        let (sk_r, pk_r) = Kem::derive_keypair(&h(&s.setup, "ikmR"));
        // x25519-dalek keeps secrets clamped (RFC 7748 section 5); the RFC prints them raw.
        assert_eq!(
            sk_r.to_bytes().to_vec(),
            clamp(h(&s.setup, "skRm")),
            "mode {mode} skRm"
        );
        assert_eq!(
            pk_r.to_bytes().to_vec(),
            h(&s.setup, "pkRm"),
            "mode {mode} pkRm"
        );
        let (_, pk_e) = Kem::derive_keypair(&h(&s.setup, "ikmE"));
        assert_eq!(pk_e.to_bytes().to_vec(), h(&s.setup, "pkEm"));

        let sender_keys = s
            .setup
            .get("ikmS")
            .map(|_| Kem::derive_keypair(&h(&s.setup, "ikmS")));
        if let Some((sk_s, pk_s)) = &sender_keys {
            assert_eq!(sk_s.to_bytes().to_vec(), clamp(h(&s.setup, "skSm")));
            assert_eq!(pk_s.to_bytes().to_vec(), h(&s.setup, "pkSm"));
        }
        let psk = s.setup.get("psk").map(|_| h(&s.setup, "psk"));
        let psk_id = s.setup.get("psk_id").map(|_| h(&s.setup, "psk_id"));
        let bundle = psk
            .as_ref()
            .map(|p| PskBundle::new(p, psk_id.as_ref().unwrap()).unwrap());

        let mode_s = match (mode, &sender_keys, bundle) {
            (0, None, None) => OpModeS::Base,
            (1, None, Some(b)) => OpModeS::Psk(b),
            (2, Some(k), None) => OpModeS::Auth(k.clone()),
            (3, Some(k), Some(b)) => OpModeS::AuthPsk(k.clone(), b),
            _ => panic!("unexpected vector shape for mode {mode}"),
        };
        let mode_r = match (mode, &sender_keys, bundle) {
            (0, None, None) => OpModeR::Base,
            (1, None, Some(b)) => OpModeR::Psk(b),
            (2, Some(k), None) => OpModeR::Auth(k.1.clone()),
            (3, Some(k), Some(b)) => OpModeR::AuthPsk(k.1.clone(), b),
            _ => unreachable!(),
        };

        // Sender with the vector's ephemeral key: enc must match byte for byte.
        let (enc, mut ctx_s) = hpke::setup_sender_with_rng::<AesGcm128, HkdfSha256, Kem>(
            &mode_s,
            &pk_r,
            &info,
            &mut Replay(h(&s.setup, "ikmE")),
        )
        .unwrap();
        assert_eq!(
            enc.to_bytes().to_vec(),
            h(&s.setup, "enc"),
            "mode {mode} enc"
        );
        let enc2 = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h(&s.setup, "enc")).unwrap();
        let mut ctx_r =
            hpke::setup_receiver::<AesGcm128, HkdfSha256, Kem>(&mode_r, &sk_r, &enc2, &info)
                .unwrap();

        // Encryptions at sequence numbers 0,1,2,4,255,256: advance both contexts through gaps.
        let mut seq = 0u64;
        for e in &s.encryptions {
            let target: u64 = e["sequence number"].parse().unwrap();
            while seq < target {
                let filler = ctx_s.seal(b"filler", b"").unwrap();
                ctx_r.open(&filler, b"").unwrap();
                seq += 1;
            }
            let ct = ctx_s.seal(&h(e, "pt"), &h(e, "aad")).unwrap();
            assert_eq!(ct, h(e, "ct"), "mode {mode} seq {target}");
            let pt = ctx_r.open(&ct, &h(e, "aad")).unwrap();
            assert_eq!(pt, h(e, "pt"));
            seq += 1;
            checked_encryptions += 1;
        }
        for x in &s.exports {
            let len: usize = x["L"].parse().unwrap();
            let mut out_s = vec![0u8; len];
            let mut out_r = vec![0u8; len];
            ctx_s.export(&h(x, "exporter_context"), &mut out_s).unwrap();
            ctx_r.export(&h(x, "exporter_context"), &mut out_r).unwrap();
            assert_eq!(out_s, h(x, "exported_value"), "mode {mode} export");
            assert_eq!(out_r, out_s);
        }
        assert_eq!(s.exports.len(), 3);
    }
    assert_eq!(checked_encryptions, 4 * 6);
}
