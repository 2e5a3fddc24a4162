//! The frame codec: round trips, the documented example, every refusal, and a bounded
//! mutation fuzz run (stable Rust; `fuzz/` holds the cargo-fuzz target for longer runs).

use rand::{Rng, SeedableRng};
use vesper_proto::*;

fn samples() -> Vec<Message> {
    vec![
        Message::Hello(Hello {
            worker_id: "node-1/w0".into(),
            receipt_key: "ab".repeat(32),
            capabilities: Capabilities {
                cores: 2,
                memory_mb: 4096,
                executors: vec!["wasm".into()],
                gpus: vec![],
                price_per_mfuel: 3,
                region: "eu-west".into(),
            },
        }),
        Message::Welcome(Welcome {
            lease_ms: 30_000,
            heartbeat_ms: 10_000,
        }),
        Message::LeaseRequest(LeaseRequest { max_jobs: 1 }),
        Message::Assignment(Assignment {
            job_id: "6f1c2d3e-0000-4000-8000-000000000001".into(),
            epoch: 2,
            lease_expires_at_ms: 1_700_000_030_000,
            workload_type: "general".into(),
            program_id: Some("cd".repeat(32)),
            key_id: "0123456789abcdef".into(),
            client_pubkey: "ef".repeat(32),
            encrypted_key: vec![1, 2, 3],
            encrypted_payload: (0..=255).collect(),
            payload_digest: "00".repeat(32),
            created_at_ms: 1_700_000_000_000,
            retry_count: 1,
            max_fuel: Some(1_000_000),
            request_id: None,
        }),
        Message::NoWork(NoWork {
            retry_after_ms: 250,
        }),
        Message::Heartbeat(Heartbeat {
            job_id: "j".into(),
            epoch: 2,
        }),
        Message::HeartbeatAck(HeartbeatAck {
            job_id: "j".into(),
            ok: false,
        }),
        Message::Completion(Completion {
            job_id: "j".into(),
            epoch: 2,
            encrypted_result: vec![9; 40],
            receipt: vec![7; 20],
            signature: "11".repeat(64),
        }),
        Message::Failure(Failure {
            job_id: "j".into(),
            epoch: 2,
            error_code: "fuel_exhausted".into(),
        }),
        Message::HandInAck(HandInAck {
            job_id: "j".into(),
            accepted: true,
        }),
        Message::ProgramRequest(ProgramRequest {
            program_id: "ab".repeat(32),
        }),
        Message::Program(Program {
            program_id: "ab".repeat(32),
            module: b"\0asm\x01\0\0\0".to_vec(),
        }),
        Message::KeyRequest(KeyRequest {
            kx_pubkey: "01".repeat(32),
            signature: "02".repeat(64),
        }),
        Message::KeyGrant(KeyGrant {
            status: "pending".into(),
            sealed: None,
            key_ids: vec![],
        }),
        Message::KeyGrant(KeyGrant {
            status: "granted".into(),
            sealed: Some(vec![1, 2, 3]),
            key_ids: vec!["cd".repeat(8)],
        }),
        Message::Error(ErrorMessage {
            code: "untrusted".into(),
            message: "peer not trusted".into(),
        }),
        Message::ZkProgramRequest(ZkProgramRequest {
            image_id: "9f".repeat(32),
        }),
        Message::ZkProgram(ZkProgram {
            image_id: "9f".repeat(32),
            program: r#"{"use_case":"age","version":"1"}"#.into(),
            proving_key: (0..=255).collect(),
        }),
    ]
}

#[test]
fn every_message_round_trips() {
    // Every type byte of the job protocol has a sample.
    let kinds: std::collections::HashSet<u8> = samples().iter().map(|m| m.kind() as u8).collect();
    let expected: std::collections::HashSet<u8> = (0x01..=0x0f).chain([0x17, 0x18]).collect();
    assert_eq!(kinds, expected);
    for m in samples() {
        let frame = encode(&m).unwrap();
        assert_eq!(frame[0], m.kind() as u8);
        let len = u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize;
        assert_eq!(len + HEADER_LEN, frame.len());
        assert_eq!(
            decode(&frame).unwrap(),
            Decoded::Frame(m.clone(), frame.len())
        );
        // Two frames back to back: the first is read, the rest left.
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        assert_eq!(decode(&two).unwrap(), Decoded::Frame(m, frame.len()));
    }
}

#[test]
fn the_documented_example_is_byte_exact() {
    // docs/PROTOCOL.md, "Example".
    let frame = encode(&Message::LeaseRequest(LeaseRequest { max_jobs: 1 })).unwrap();
    assert_eq!(frame, b"\x03\x00\x00\x00\x0e{\"max_jobs\":1}");
}

#[test]
fn partial_frames_ask_for_the_rest() {
    let frame = encode(&samples()[3]).unwrap();
    for cut in 0..frame.len() {
        match decode(&frame[..cut]).unwrap() {
            Decoded::Incomplete(more) => assert_eq!(
                more,
                if cut < HEADER_LEN {
                    HEADER_LEN - cut
                } else {
                    frame.len() - cut
                }
            ),
            other => panic!("{cut}: {other:?}"),
        }
    }
}

#[test]
fn refusals_are_typed() {
    assert_eq!(
        decode(&[0x00, 0, 0, 0, 2, b'{', b'}']),
        Err(WireError::UnknownType(0))
    );
    assert_eq!(
        decode(&[0xff, 0, 0, 0, 0]),
        Err(WireError::UnknownType(0xff))
    );
    assert_eq!(
        decode(&[0x19, 0, 0, 0, 2, b'{', b'}']),
        Err(WireError::UnknownType(0x19))
    );
    for t in 0x10..=0x16u8 {
        assert_eq!(
            decode(&[t, 0, 0, 0, 2, b'{', b'}']),
            Err(WireError::Reserved(t))
        );
    }
    // Oversized: refused from the header alone, with no payload present.
    assert_eq!(
        decode(&[0x08, 0xff, 0xff, 0xff, 0xff]),
        Err(WireError::FrameTooLarge {
            len: u32::MAX as usize,
            max: MAX_FRAME
        })
    );
    // A frame that carries no payload has a much smaller ceiling: a lease request announcing
    // 48 MiB is refused from its header, while a completion may be that large.
    let header = |t: u8, len: usize| {
        let mut h = vec![t];
        h.extend_from_slice(&(len as u32).to_be_bytes());
        h
    };
    assert_eq!(
        decode(&header(0x03, MAX_FRAME)),
        Err(WireError::FrameTooLarge {
            len: MAX_FRAME,
            max: MAX_CONTROL_FRAME
        })
    );
    assert_eq!(
        decode(&header(0x03, MAX_CONTROL_FRAME + 1)),
        Err(WireError::FrameTooLarge {
            len: MAX_CONTROL_FRAME + 1,
            max: MAX_CONTROL_FRAME
        })
    );
    // A proof program request is a control frame; the answer carries a proving key.
    assert_eq!(
        decode(&header(0x17, MAX_CONTROL_FRAME + 1)),
        Err(WireError::FrameTooLarge {
            len: MAX_CONTROL_FRAME + 1,
            max: MAX_CONTROL_FRAME
        })
    );
    for t in [0x04, 0x08, 0x0c, 0x18] {
        assert_eq!(
            decode(&header(t, MAX_FRAME)),
            Ok(Decoded::Incomplete(MAX_FRAME))
        );
    }
    let bad = |body: &[u8]| {
        let mut f = vec![0x03];
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(body);
        decode(&f)
    };
    assert!(matches!(
        bad(b"not json"),
        Err(WireError::InvalidPayload {
            kind: "lease_request",
            ..
        })
    ));
    assert!(matches!(bad(b"{}"), Err(WireError::InvalidPayload { .. })));
    assert!(matches!(
        bad(br#"{"max_jobs":1,"extra":true}"#),
        Err(WireError::InvalidPayload { .. })
    ));
    assert!(matches!(
        bad(br#"{"max_jobs":-1}"#),
        Err(WireError::InvalidPayload { .. })
    ));
}

/// Bounded fuzzing on stable Rust: random bytes and mutations of valid frames never panic,
/// and a decoded frame never claims more bytes than it was given.
#[test]
fn fuzzed_frames_never_panic() {
    let iterations: usize = std::env::var("VESPER_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let valid: Vec<Vec<u8>> = samples().iter().map(|m| encode(m).unwrap()).collect();
    let mut decoded = 0;
    for i in 0..iterations {
        let mut buf = if i % 4 == 0 {
            let n = rng.gen_range(0..64);
            (0..n).map(|_| rng.r#gen::<u8>()).collect::<Vec<u8>>()
        } else {
            valid[rng.gen_range(0..valid.len())].clone()
        };
        for _ in 0..rng.gen_range(0..4) {
            if buf.is_empty() {
                break;
            }
            let at = rng.gen_range(0..buf.len());
            match rng.gen_range(0..4) {
                0 => buf[at] = rng.r#gen(),
                1 => buf.truncate(at),
                2 => buf.insert(at, rng.r#gen()),
                _ => {
                    buf.remove(at);
                }
            }
        }
        match decode(&buf) {
            Ok(Decoded::Frame(m, used)) => {
                assert!(used <= buf.len());
                // What decodes re-encodes to a frame that decodes to the same message.
                let again = encode(&m).unwrap();
                assert_eq!(decode(&again).unwrap(), Decoded::Frame(m, again.len()));
                decoded += 1;
            }
            Ok(Decoded::Incomplete(more)) => assert!(more > 0),
            Err(_) => {}
        }
    }
    assert!(
        decoded > iterations / 10,
        "the corpus mostly failed to decode: {decoded}"
    );
}

/// The proof program messages refuse what the others refuse: unknown, missing and repeated
/// keys, wrong types, and non-canonical base64.
#[test]
fn zk_program_messages_refuse_malformed_payloads() {
    let frame = |t: u8, body: &str| {
        let mut f = vec![t];
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(body.as_bytes());
        decode(&f)
    };
    let id = "ab".repeat(32);
    let ok = frame(0x17, &format!(r#"{{"image_id":"{id}"}}"#));
    assert_eq!(
        ok,
        Ok(Decoded::Frame(
            Message::ZkProgramRequest(ZkProgramRequest {
                image_id: id.clone()
            }),
            HEADER_LEN + 79
        ))
    );
    for body in [
        "{}".to_owned(),
        format!(r#"{{"image_id":"{id}","extra":1}}"#),
        format!(r#"{{"program_id":"{id}"}}"#),
        format!(r#"{{"image_id":"{id}","image_id":"{id}"}}"#),
        r#"{"image_id":7}"#.to_owned(),
        r#"{"image_id":null}"#.to_owned(),
    ] {
        assert!(
            matches!(
                frame(0x17, &body),
                Err(WireError::InvalidPayload {
                    kind: "zk_program_request",
                    ..
                })
            ),
            "{body}"
        );
    }
    let ok = frame(
        0x18,
        &format!(r#"{{"image_id":"{id}","program":"{{}}","proving_key":"AAE="}}"#),
    );
    assert!(
        matches!(&ok, Ok(Decoded::Frame(Message::ZkProgram(z), _)) if z.proving_key == [0, 1] && z.program == "{}"),
        "{ok:?}"
    );
    for body in [
        format!(r#"{{"image_id":"{id}","program":"{{}}"}}"#),
        format!(r#"{{"image_id":"{id}","proving_key":"AAE="}}"#),
        format!(r#"{{"image_id":"{id}","program":"{{}}","proving_key":"AAE=","module":"AAE="}}"#),
        format!(r#"{{"image_id":"{id}","program":{{}},"proving_key":"AAE="}}"#),
        // Not base64, unpadded, and non-zero trailing bits.
        format!(r#"{{"image_id":"{id}","program":"{{}}","proving_key":"not base64!"}}"#),
        format!(r#"{{"image_id":"{id}","program":"{{}}","proving_key":"AAE"}}"#),
        format!(r#"{{"image_id":"{id}","program":"{{}}","proving_key":"AAF="}}"#),
    ] {
        assert!(
            matches!(
                frame(0x18, &body),
                Err(WireError::InvalidPayload {
                    kind: "zk_program",
                    ..
                })
            ),
            "{body}"
        );
    }
}

/// The largest proof program a gateway may send fits a frame, however its text escapes in JSON.
#[test]
fn the_largest_zk_program_fits_a_frame() {
    let m = Message::ZkProgram(ZkProgram {
        image_id: "ab".repeat(32),
        // Each control character becomes six bytes (`\u0001`) in JSON.
        program: "\u{1}".repeat(MAX_ZK_PROGRAM),
        proving_key: vec![0xff; MAX_ZK_PROVING_KEY],
    });
    let frame = encode(&m).unwrap();
    assert!(frame.len() - HEADER_LEN <= MAX_FRAME);
    assert_eq!(decode(&frame).unwrap(), Decoded::Frame(m, frame.len()));
}
