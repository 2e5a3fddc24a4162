"""Byte-exact vectors of docs/ENVELOPE.md §5, docs/RECEIPT.md §8 and docs/AUTH.md §5, and
tampering: any changed byte or field must make opening or verifying fail."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vesper_sdk import (
    ClientKey,
    DecryptionError,
    Ed25519Wallet,
    Eip191Wallet,
    EnvelopeError,
    KeySet,
    PoolKey,
    Receipt,
    VerificationError,
    WalletAuth,
    canonical_request,
    key_id,
    program_id,
    seal_job,
    verify_result,
)
from vesper_sdk.auth import eip191_digest
from vesper_sdk.envelope import (
    JOB_INFO,
    RESULT_INFO,
    decode_vrs1,
    encode_vwl1,
    hpke_open,
    hpke_seal,
    job_aad,
    open_result,
    result_aad,
)
from vesper_sdk.receipt import keyset_message, result_hash, verify_ed25519

h = bytes.fromhex

# ---- ENVELOPE.md §5.1 ---------------------------------------------------------------------

POOL_SK = h("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
POOL_PK = h("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
CLIENT_SK = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
CLIENT_PK = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
MODULE = h("0061736d01000000")
PROGRAM_ID = "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476"
EPHEMERAL_SK = h("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736")
ENC = h("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
KEY = h("cf5807a8bc6e0294c1a7aecdec7ea6df00672f36acb431904d11f634013762de")
BASE_NONCE = h("e46035b27c52792a1032b296")
CT = h("71b0b5532c73c9c36ebb136fa6ac4828c62a4349f558fb48248a63a1")
PAYLOAD_DIGEST = h("f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a")
JOB_AAD = h(
    "7665737065722f76312f6a6f622d616164000767656e6572616c0193a44bbb96"
    "c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f94768520f00989"
    "30a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a3862323238"
    "6364373561623730626164"
)
SUBMIT_BODY = {
    "encrypted_payload": "cbC1UyxzycNuuxNvpqxIKMYqQ0n1WPtIJIpjoQ==",
    "encrypted_key": "N/2jVnvb1ijohmjDyNfpfR0SU7bU6m1EwVD3QfG/RDE=",
    "client_pubkey": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
    "workload_type": "general",
    "key_id": "8b228cd75ab70bad",
    "program_id": PROGRAM_ID,
    "priority": 5,
    "max_retries": 3,
}
JOB_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
RESULT_EPHEMERAL_SK = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
VRS1 = h("56525331" + bytes(range(32)).hex() + "00000000" + "00000003" + "38340a" + "00000000")
RESULT_AAD = h(
    "7665737065722f76312f726573756c742d61616400"
    "6f1c2a3b4d5e4f608a7b9c0d1e2f3a4b"
    "f784bb74535945237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208a"
)
ENCRYPTED_RESULT = (
    "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08RRfRo87Lbc2rGH6JaBL2n5cLnI4PoBcYzUFWei6lw9+ms"
    "RKQiYGqWSpHtCMyb5GY7qaqu9XfVrMwvvRWfV3f/Nxj/"
)

# ---- RECEIPT.md §8 ------------------------------------------------------------------------

WORKER_SEED = h("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
WORKER_PK = h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
PROOF = {
    "version": 1,
    "job_id": JOB_ID,
    "program_id": PROGRAM_ID,
    "workload_type": "general",
    "payload_digest": PAYLOAD_DIGEST.hex(),
    "result_digest": "fe0486cda4aa455278aa14928e10bb1dc40c766fde1454b05879ffe0417e0118",
    "result_hash": "2611e131df8416ed379dd674eeac65fefc04f52dd99f2b87cb207628eeb769b1",
    "fuel_used": 12345,
    "execution_time_ms": 3,
    "started_at": 1767225600000,
    "completed_at": 1767225600003,
    "worker_id": "w-1",
    "worker_pubkey": WORKER_PK.hex(),
    "worker_signature": "824dcaf489c685bafc953f13cac496e2eab0b9299883b3d6331c9576a747ea9a"
    "1454d3f8f70d2ec9b58b1efa62746aa2c174f15a0c8a779034fa0b75d779f70b",
}
CANONICAL = h(
    "016f1c2a3b4d5e4f608a7b9c0d1e2f3a4b93a44bbb96c751218e4c00d479e4c1"
    "4358122a389acca16205b1e4d0dc5f94760767656e6572616cf784bb74535945"
    "237513431f3c5aec0ee5eef70d7a7f779f06e25d1e06a3208afe0486cda4aa45"
    "5278aa14928e10bb1dc40c766fde1454b05879ffe0417e01182611e131df8416"
    "ed379dd674eeac65fefc04f52dd99f2b87cb207628eeb769b100000000000030"
    "3900000000000000030000019b76daa8000000019b76daa80303772d31d75a98"
    "0182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)
EXPECTED = {"program_id": PROGRAM_ID, "workload_type": "general", "payload_digest": PAYLOAD_DIGEST.hex()}


def result_body() -> dict:
    return {
        "job_id": JOB_ID,
        "status": "completed",
        "encrypted_result": ENCRYPTED_RESULT,
        "execution_proof": dict(PROOF),
        "completed_at": "2026-01-01T00:00:00.003Z",
    }


def client_secret() -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(CLIENT_SK)


def flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


# ---- identifiers and framing --------------------------------------------------------------


def test_identifiers() -> None:
    assert key_id(POOL_PK) == "8b228cd75ab70bad"
    assert program_id(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert program_id(MODULE) == PROGRAM_ID
    assert ClientKey.from_bytes(CLIENT_SK).public_bytes == CLIENT_PK
    assert ClientKey.from_bytes(POOL_SK).public_bytes == POOL_PK


def test_job_aad_worked_example() -> None:
    aad = job_aad("general", None, b"\x11" * 32, "0123456789abcdef")
    assert aad.hex() == (
        "7665737065722f76312f6a6f622d616164000767656e6572616c001111111111"
        "1111111111111111111111111111111111111111111111111111113031323334"
        "3536373839616263646566"
    )
    assert len(aad) == 75
    assert len(job_aad("pos_validation", PROGRAM_ID, CLIENT_PK, "8b228cd75ab70bad")) == 114


def test_job_aad_refuses_other_spellings() -> None:
    with pytest.raises(EnvelopeError):
        job_aad("General", None, CLIENT_PK, "8b228cd75ab70bad")
    with pytest.raises(EnvelopeError):
        job_aad("general", PROGRAM_ID.upper(), CLIENT_PK, "8b228cd75ab70bad")
    with pytest.raises(EnvelopeError):
        job_aad("general", None, CLIENT_PK, "8B228CD75AB70BAD")


def test_vwl1_examples() -> None:
    assert encode_vwl1(b"hi") == h("56574c31" "00" "00000002" "6869")
    assert encode_vwl1(b"", h("0061736d")) == h("56574c31" "01" "00000004" "0061736d" "00000000")
    assert encode_vwl1(b"42\n") == h("56574c31000000000334320a")


# ---- ENVELOPE.md §5.1 end to end ----------------------------------------------------------


def test_job_aad_vector() -> None:
    assert job_aad("general", PROGRAM_ID, CLIENT_PK, "8b228cd75ab70bad") == JOB_AAD


def test_seal_job_vector() -> None:
    sealed = seal_job(
        POOL_PK, CLIENT_PK, b"42\n", program=PROGRAM_ID, priority=5, max_retries=3, ephemeral_secret=EPHEMERAL_SK
    )
    assert base64.b64decode(sealed.request["encrypted_key"]) == ENC
    assert base64.b64decode(sealed.request["encrypted_payload"]) == CT
    assert sealed.payload_digest == PAYLOAD_DIGEST
    assert sealed.request == SUBMIT_BODY
    assert list(sealed.request) == list(SUBMIT_BODY)  # the documented field order, too
    assert (sealed.program_id, sealed.workload_type, sealed.key_id) == (PROGRAM_ID, "general", "8b228cd75ab70bad")


def test_documented_key_and_nonce_match_the_ciphertext() -> None:
    # The AES-256-GCM key and base nonce of the table decrypt the ciphertext we produced.
    assert AESGCM(KEY).decrypt(BASE_NONCE, CT, JOB_AAD) == h("56574c31000000000334320a")


def test_pool_opens_the_job() -> None:
    pool = X25519PrivateKey.from_private_bytes(POOL_SK)
    assert hpke_open(pool, ENC, JOB_INFO, JOB_AAD, CT) == h("56574c31000000000334320a")


def test_inline_job_program_id_is_the_module_hash() -> None:
    sealed = seal_job(POOL_PK, CLIENT_PK, b"", inline_module=MODULE)
    assert "program_id" not in sealed.request
    assert sealed.program_id == PROGRAM_ID
    pool = X25519PrivateKey.from_private_bytes(POOL_SK)
    enc = base64.b64decode(sealed.request["encrypted_key"])
    ct = base64.b64decode(sealed.request["encrypted_payload"])
    aad = job_aad("general", None, CLIENT_PK, key_id(POOL_PK))
    assert hpke_open(pool, enc, JOB_INFO, aad, ct) == encode_vwl1(b"", MODULE)


def test_seal_needs_exactly_one_program() -> None:
    with pytest.raises(EnvelopeError):
        seal_job(POOL_PK, CLIENT_PK, b"", program=PROGRAM_ID, inline_module=MODULE)
    with pytest.raises(EnvelopeError):
        seal_job(POOL_PK, CLIENT_PK, b"")


def test_result_vector() -> None:
    assert result_aad(JOB_ID, PAYLOAD_DIGEST) == RESULT_AAD
    enc, ct = hpke_seal(CLIENT_PK, RESULT_INFO, RESULT_AAD, VRS1, RESULT_EPHEMERAL_SK)
    assert base64.b64encode(enc + ct).decode() == ENCRYPTED_RESULT
    pt = open_result(client_secret(), JOB_ID, PAYLOAD_DIGEST, base64.b64decode(ENCRYPTED_RESULT))
    assert pt == VRS1 and len(pt) == 51
    r = decode_vrs1(pt)
    assert (r.salt, r.exit_code, r.stdout, r.stderr) == (bytes(range(32)), 0, b"84\n", b"")


def test_negative_exit_code_is_signed() -> None:
    pt = b"VRS1" + bytes(32) + h("fffffffe") + bytes(4) + bytes(4)
    assert decode_vrs1(pt).exit_code == -2


@pytest.mark.parametrize(
    "pt",
    [
        VRS1 + b"\x00",  # trailing byte
        VRS1[:-1],  # truncated
        b"VRS2" + VRS1[4:],  # magic
        VRS1[:40] + h("000000ff") + VRS1[44:],  # stdout length past the end
    ],
)
def test_vrs1_decoding_is_strict(pt: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode_vrs1(pt)


# ---- tampering: envelopes ------------------------------------------------------------------


def test_every_flipped_byte_of_a_job_fails_to_open() -> None:
    pool = X25519PrivateKey.from_private_bytes(POOL_SK)
    for i in range(len(ENC)):
        with pytest.raises(DecryptionError):
            hpke_open(pool, flip(ENC, i), JOB_INFO, JOB_AAD, CT)
    for i in range(len(CT)):
        with pytest.raises(DecryptionError):
            hpke_open(pool, ENC, JOB_INFO, JOB_AAD, flip(CT, i))


@pytest.mark.parametrize(
    "aad",
    [
        job_aad("ai_inference", PROGRAM_ID, CLIENT_PK, "8b228cd75ab70bad"),  # other workload type
        job_aad("general", None, CLIENT_PK, "8b228cd75ab70bad"),  # registry -> inline
        job_aad("general", "00" * 32, CLIENT_PK, "8b228cd75ab70bad"),  # other program
        job_aad("general", PROGRAM_ID, b"\x09" * 32, "8b228cd75ab70bad"),  # other client key
        job_aad("general", PROGRAM_ID, CLIENT_PK, "0000000000000000"),  # other pool key id
    ],
)
def test_changed_metadata_fails_to_open(aad: bytes) -> None:
    pool = X25519PrivateKey.from_private_bytes(POOL_SK)
    with pytest.raises(DecryptionError):
        hpke_open(pool, ENC, JOB_INFO, aad, CT)


def test_every_flipped_byte_of_a_result_fails_to_open() -> None:
    sealed = base64.b64decode(ENCRYPTED_RESULT)
    for i in range(len(sealed)):
        with pytest.raises(DecryptionError):
            open_result(client_secret(), JOB_ID, PAYLOAD_DIGEST, flip(sealed, i))


def test_result_for_another_job_or_payload_fails_to_open() -> None:
    sealed = base64.b64decode(ENCRYPTED_RESULT)
    with pytest.raises(DecryptionError):
        open_result(client_secret(), "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c", PAYLOAD_DIGEST, sealed)
    with pytest.raises(DecryptionError):
        open_result(client_secret(), JOB_ID, flip(PAYLOAD_DIGEST, 0), sealed)
    with pytest.raises(DecryptionError):
        open_result(X25519PrivateKey.generate(), JOB_ID, PAYLOAD_DIGEST, sealed)
    with pytest.raises(EnvelopeError):
        open_result(client_secret(), JOB_ID, PAYLOAD_DIGEST, sealed[:47])


def test_sealing_to_a_small_order_key_fails() -> None:
    with pytest.raises(EnvelopeError):
        hpke_seal(bytes(32), JOB_INFO, b"", b"x")


# ---- RECEIPT.md §8 --------------------------------------------------------------------------


def test_pinned_receipt_snapshot() -> None:
    r = Receipt(
        job_id="01010101-0101-0101-0101-010101010101",
        program_id="02" * 32,
        workload_type="general",
        payload_digest="03" * 32,
        result_digest="04" * 32,
        result_hash="05" * 32,
        fuel_used=6,
        execution_time_ms=7,
        started_at=8,
        completed_at=9,
        worker_id="w-1",
        worker_pubkey="0a" * 32,
    )
    enc = r.canonical_bytes()
    assert len(enc) == 221 and len(r.signed_message()) == 239
    assert hashlib.sha256(enc).hexdigest() == "636f7e184c1ee797d8ecd16e5bfdc7af5233a961aee5926e7cad7daa028357b4"
    assert hashlib.sha256(r.signed_message()).hexdigest() == "2f6c53bd07e3146902cb0d9124f63828975e6d7b6de4eda20ca6553d088f5e88"


def test_receipt_vector_encodes_and_signs() -> None:
    r = Receipt.from_json(PROOF)
    assert r.canonical_bytes() == CANONICAL
    sig = Ed25519PrivateKey.from_private_bytes(WORKER_SEED).sign(r.signed_message())
    assert sig.hex() == PROOF["worker_signature"]
    r.verify_signature()
    assert result_hash(VRS1).hex() == PROOF["result_hash"]
    assert hashlib.sha256(base64.b64decode(ENCRYPTED_RESULT)).hexdigest() == PROOF["result_digest"]


def test_receipt_vector_verifies_end_to_end() -> None:
    v = verify_result(result_body(), [WORKER_PK], client_secret=client_secret(), expected=EXPECTED)
    assert v.unchecked == ()
    assert v.plaintext is not None and v.plaintext.stdout == b"84\n"
    # Without a submission, the three facts are reported unchecked.
    v = verify_result(result_body(), [WORKER_PK])
    assert v.unchecked == ("program_id", "workload_type", "payload_digest") and v.plaintext is None


def _tampered_bodies() -> list[tuple[str, dict]]:
    cases = []
    for name, value in [
        ("job_id", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c"),
        ("program_id", "00" * 32),
        ("workload_type", "ai_inference"),
        ("payload_digest", "00" * 32),
        ("result_digest", "00" * 32),
        ("result_hash", "00" * 32),
        ("fuel_used", 12346),
        ("fuel_used", 12345.0),
        ("execution_time_ms", 4),
        ("started_at", 1),
        ("completed_at", 2),
        ("worker_id", "w-2"),
        ("worker_pubkey", "00" * 32),
        ("worker_signature", PROOF["worker_signature"][:-2] + "0c"),
        ("worker_signature", PROOF["worker_signature"].upper()),
        ("program_id", PROGRAM_ID.upper()),
        ("version", 2),
    ]:
        body = result_body()
        body["execution_proof"][name] = value
        cases.append((f"{name}={value!r:.20}", body))
    body = result_body()
    body["job_id"] = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c"
    cases.append(("top-level job_id", body))
    sealed = base64.b64decode(ENCRYPTED_RESULT)
    for i in (0, 31, 32, 50, len(sealed) - 1):
        body = result_body()
        body["encrypted_result"] = base64.b64encode(flip(sealed, i)).decode()
        cases.append((f"encrypted_result[{i}]", body))
    body = result_body()
    del body["execution_proof"]["fuel_used"]
    cases.append(("missing field", body))
    return cases


@pytest.mark.parametrize("name,body", _tampered_bodies(), ids=[c[0] for c in _tampered_bodies()])
def test_tampered_receipt_is_refused(name: str, body: dict) -> None:
    with pytest.raises(VerificationError):
        verify_result(body, [WORKER_PK], client_secret=client_secret(), expected=EXPECTED)


def test_unknown_worker_key_is_refused() -> None:
    with pytest.raises(VerificationError) as e:
        verify_result(result_body(), [b"\x01" * 32])
    assert e.value.field == "worker_pubkey"


@pytest.mark.parametrize("field", ["program_id", "workload_type", "payload_digest"])
def test_receipt_for_another_submission_is_refused(field: str) -> None:
    expected = dict(EXPECTED)
    expected[field] = "ai_inference" if field == "workload_type" else "11" * 32
    with pytest.raises(VerificationError) as e:
        verify_result(result_body(), [WORKER_PK], expected=expected)
    assert e.value.field == field


def test_result_opened_with_another_key_is_refused() -> None:
    with pytest.raises(VerificationError):
        verify_result(result_body(), [WORKER_PK], client_secret=X25519PrivateKey.generate())


def test_small_order_signatures_are_refused() -> None:
    # A = R = the identity point and S = 0 satisfy the cofactorless equation for any message;
    # strict verification (ed25519-dalek verify_strict, libsodium) refuses the small-order points.
    identity = b"\x01" + bytes(31)
    with pytest.raises(VerificationError):
        verify_ed25519(identity, b"any message", identity + bytes(32))


def test_non_canonical_s_is_refused() -> None:
    r = Receipt.from_json(PROOF)
    sig = h(PROOF["worker_signature"])
    ell = 2**252 + 27742317777372353535851937790883648493
    s_plus_l = (int.from_bytes(sig[32:], "little") + ell).to_bytes(32, "little")
    with pytest.raises(VerificationError):
        verify_ed25519(WORKER_PK, r.signed_message(), sig[:32] + s_plus_l)


# ---- the signed key list --------------------------------------------------------------------


def _keys_body(gateway: Ed25519PrivateKey) -> dict:
    pool = [ClientKey.from_bytes(POOL_SK).public_bytes]
    workers = [("w-1", WORKER_PK), ("dev-1/w0", b"\x22" * 32)]
    msg = keyset_message([PoolKey(key_id(p), p) for p in pool], workers)
    return {
        "pool_keys": [
            {"key_id": key_id(p), "public_key": base64.b64encode(p).decode(), "suite": "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM"}
            for p in pool
        ],
        "worker_keys": [{"worker_id": w, "public_key": k.hex()} for w, k in workers],
        "gateway_key": gateway.public_key().public_bytes_raw().hex(),
        "signature": gateway.sign(msg).hex(),
    }


def test_key_list_signature() -> None:
    gw = Ed25519PrivateKey.generate()
    body = _keys_body(gw)
    keys = KeySet.from_json(body, pinned_gateway_key=gw.public_key().public_bytes_raw())
    assert keys.current_pool_key.key_id == "8b228cd75ab70bad"
    assert keys.worker_key_set() == {WORKER_PK, b"\x22" * 32}
    with pytest.raises(VerificationError):
        KeySet.from_json(body, pinned_gateway_key=b"\x00" * 32)
    for path, value in [
        (("worker_keys", 1, "public_key"), "23" * 32),
        (("worker_keys", 0, "worker_id"), "w-2"),
        (("pool_keys", 0, "key_id"), "0000000000000000"),
        (("signature",), "00" * 64),
    ]:
        bad = copy.deepcopy(body)
        target = bad
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        with pytest.raises(VerificationError):
            KeySet.from_json(bad)


# ---- AUTH.md §5 -----------------------------------------------------------------------------

ED_HEADERS = {
    "X-Vesper-Wallet": "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "X-Vesper-Timestamp": "1700000000",
    "X-Vesper-Nonce": "vesper-vector-nonce-0001",
    "X-Vesper-Signature": "98f7f81caebfd8883e20307fcad854769070432ea58e3fb7a25772c907314d29"
    "39178ce99a0b455db9f7e2ff875ee24cf15c45f52fcf70b992047d6021b9f20f",
}
EIP_SECRET = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
EIP_HEADERS = {
    "X-Vesper-Wallet": "eip191:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "X-Vesper-Timestamp": "1700000000",
    "X-Vesper-Nonce": "vesper-vector-nonce-0002",
    "X-Vesper-Signature": "0xabc1d24942d5b89c69fd3327bbbfc5a05f63a6f2f5c7f276e9655e9ab61fbb53"
    "025c2d984d42d42e2d9ba6ad092123b479ce72af5ec9e2a0e126a5ede0ab2eb01c",
}


def test_ed25519_canonical_request_and_signature() -> None:
    body = b'{"hello":"vesper"}'
    assert hashlib.sha256(body).hexdigest() == "a385c172e1aaf527c21e30e5b9ec7d0c3e38a4a3fd354647327716430c6de676"
    wallet = Ed25519Wallet(WORKER_SEED)
    msg = canonical_request("POST", "/api/submit", body, 1700000000, "vesper-vector-nonce-0001", wallet.wallet_id)
    assert msg == (
        "vesper-auth-v1\nPOST\n/api/submit\n"
        "a385c172e1aaf527c21e30e5b9ec7d0c3e38a4a3fd354647327716430c6de676\n"
        "1700000000\nvesper-vector-nonce-0001\n"
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert len(msg.encode()) == 205
    headers = WalletAuth(wallet).headers("POST", "/api/submit", body, 1700000000, "vesper-vector-nonce-0001")
    assert headers == ED_HEADERS


def test_eip191_canonical_request_digest_and_signature() -> None:
    wallet = Eip191Wallet(EIP_SECRET)
    assert wallet.address == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    msg = canonical_request("GET", "/api/jobs?status=queued", b"", 1700000000, "vesper-vector-nonce-0002", wallet.wallet_id)
    assert msg == (
        "vesper-auth-v1\nGET\n/api/jobs?status=queued\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "1700000000\nvesper-vector-nonce-0002\n"
        "eip191:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    )
    assert len(msg.encode()) == 193
    assert eip191_digest(msg.encode()).hex() == "44b5b9cf859f60a2f9febaa96f588e92cb505430d99218eaca92d22df63e363c"
    headers = WalletAuth(Eip191Wallet("0x" + EIP_SECRET)).headers(
        "GET", "/api/jobs?status=queued", b"", 1700000000, "vesper-vector-nonce-0002"
    )
    assert headers == EIP_HEADERS


def test_wallet_auth_signs_the_request_as_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    auth = WalletAuth(Ed25519Wallet(WORKER_SEED), clock=lambda: 1700000000.5)
    body = json.dumps({"hello": "vesper"}, separators=(",", ":")).encode()
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth, base_url="http://gw") as c:
        c.post("/api/submit", content=body)
        c.get("/api/jobs?status=queued&limit=2")
    post, get = seen
    assert post.headers["x-vesper-timestamp"] == "1700000000"
    nonce = post.headers["x-vesper-nonce"]
    assert 16 <= len(nonce) <= 64 and nonce != get.headers["x-vesper-nonce"]
    msg = canonical_request("POST", "/api/submit", body, 1700000000, nonce, ED_HEADERS["X-Vesper-Wallet"])
    verify_ed25519(WORKER_PK, msg.encode(), h(post.headers["x-vesper-signature"]))
    msg = canonical_request(
        "GET", "/api/jobs?status=queued&limit=2", b"", 1700000000, get.headers["x-vesper-nonce"], ED_HEADERS["X-Vesper-Wallet"]
    )
    verify_ed25519(WORKER_PK, msg.encode(), h(get.headers["x-vesper-signature"]))
    assert "authorization" not in post.headers
