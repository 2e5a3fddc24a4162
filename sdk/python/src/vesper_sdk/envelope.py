"""Workload and result envelopes, byte for byte as docs/ENVELOPE.md defines them.

A job is sealed with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
AES-256-GCM) to the pool key, with the job's public metadata as AAD (§3.2) and a "VWL1"
plaintext (§3.3). The result comes back sealed to the client's X25519 key as
``enc || ct`` over a "VRS1" plaintext (§4). HPKE itself is `pyhpke`; the X25519 keys are
`cryptography`'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey, KEMKeyPair

from ._generated import SubmitRequest
from .errors import VesperError

__all__ = [
    "JOB_INFO",
    "RESULT_INFO",
    "SUITE_NAME",
    "WORKLOAD_TYPES",
    "DecryptionError",
    "EnvelopeError",
    "ResultPlaintext",
    "SealedJob",
    "b64decode_strict",
    "decode_vrs1",
    "encode_vwl1",
    "hpke_open",
    "hpke_seal",
    "job_aad",
    "key_id",
    "open_result",
    "payload_digest",
    "program_id",
    "result_aad",
    "seal_job",
    "uuid_bytes",
    "x25519_public_bytes",
]

JOB_INFO = b"vesper/v1/job"
RESULT_INFO = b"vesper/v1/result"
JOB_AAD_DOMAIN = b"vesper/v1/job-aad\0"
RESULT_AAD_DOMAIN = b"vesper/v1/result-aad\0"
SUITE_NAME = "DHKEM(X25519, HKDF-SHA256)/HKDF-SHA256/AES-256-GCM"
WORKLOAD_TYPES = ("general", "ai_inference", "pos_validation", "zk_proof")

ENC_LEN = 32
TAG_LEN = 16
MAX_MODULE = 8 * 1024 * 1024
MAX_INPUT = 16 * 1024 * 1024

_SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


class EnvelopeError(VesperError):
    """A value does not have the shape the envelope format requires."""


class DecryptionError(VesperError):
    """An HPKE open failed: wrong key, other job or payload, or tampering."""


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard, padded base64 (RFC 4648 §4), refusing anything else."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError) as e:
        raise EnvelopeError(f"{what} is not standard base64") from e


def x25519_public_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The raw 32-byte encoding of an X25519 public key (of a key pair, or the key itself)."""
    pub = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(pool_public_key: bytes) -> str:
    """``key_id``: hex of the first 8 bytes of SHA-256(raw pool public key) (§2)."""
    if len(pool_public_key) != 32:
        raise EnvelopeError("a pool public key is 32 bytes")
    return hashlib.sha256(pool_public_key).digest()[:8].hex()


def program_id(module: bytes) -> str:
    """``program_id``: hex SHA-256 of the WebAssembly module bytes (§2)."""
    return hashlib.sha256(module).hexdigest()


def payload_digest(encrypted_key: bytes, encrypted_payload: bytes) -> bytes:
    """SHA-256(encrypted_key || encrypted_payload), over the decoded bytes (§3.1)."""
    return hashlib.sha256(encrypted_key + encrypted_payload).digest()


def uuid_bytes(job_id: str) -> bytes:
    """The 16 raw bytes of a canonical (lowercase, hyphenated) UUID, in string order."""
    if not isinstance(job_id, str) or not _UUID.match(job_id):
        raise EnvelopeError("job_id must be a canonical lowercase UUID")
    return uuid.UUID(job_id).bytes


def _check_workload_type(workload_type: str) -> bytes:
    if workload_type not in WORKLOAD_TYPES:
        raise EnvelopeError(f"workload_type must be one of {', '.join(WORKLOAD_TYPES)}")
    return workload_type.encode("ascii")


def _check_hex64(value: str, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise EnvelopeError(f"{what} must be 64 lowercase hex digits")
    return bytes.fromhex(value)


def job_aad(workload_type: str, program: str | None, client_pubkey: bytes, kid: str) -> bytes:
    """The job AAD (§3.2). ``program`` is the hex ``program_id``, or ``None`` for inline."""
    wt = _check_workload_type(workload_type)
    if len(client_pubkey) != 32:
        raise EnvelopeError("client_pubkey is 32 bytes")
    if not isinstance(kid, str) or not _HEX16.match(kid):
        raise EnvelopeError("key_id must be 16 lowercase hex digits")
    prog = b"\x00" if program is None else b"\x01" + _check_hex64(program, "program_id")
    return JOB_AAD_DOMAIN + bytes([len(wt)]) + wt + prog + client_pubkey + kid.encode("ascii")


def encode_vwl1(input_: bytes, inline_module: bytes | None = None) -> bytes:
    """The "VWL1" workload plaintext (§3.3): registry kind without a module, else inline."""
    if len(input_) > MAX_INPUT:
        raise EnvelopeError(f"input is over {MAX_INPUT} bytes")
    tail = struct.pack(">I", len(input_)) + input_
    if inline_module is None:
        return b"VWL1\x00" + tail
    if len(inline_module) > MAX_MODULE:
        raise EnvelopeError(f"an inline module is at most {MAX_MODULE} bytes")
    return b"VWL1\x01" + struct.pack(">I", len(inline_module)) + inline_module + tail


def hpke_seal(
    public_key: bytes,
    info: bytes,
    aad: bytes,
    plaintext: bytes,
    ephemeral_secret: bytes | None = None,
) -> tuple[bytes, bytes]:
    """HPKE SealBase: returns ``(enc, ct)``. ``ephemeral_secret`` is for test vectors only."""
    pk_r = KEMKey.from_pyca_cryptography_key(X25519PublicKey.from_public_bytes(public_key))
    eks = None
    if ephemeral_secret is not None:
        sk_e = X25519PrivateKey.from_private_bytes(ephemeral_secret)
        eks = KEMKeyPair(
            KEMKey.from_pyca_cryptography_key(sk_e),
            KEMKey.from_pyca_cryptography_key(sk_e.public_key()),
        )
    try:
        enc, ctx = _SUITE.create_sender_context(pk_r, info, eks=eks)
    except ValueError as e:  # an all-zero DH output: a small-order public key
        raise EnvelopeError("cannot seal to this public key (small order)") from e
    return enc, ctx.seal(plaintext, aad)


def hpke_open(secret: X25519PrivateKey, enc: bytes, info: bytes, aad: bytes, ct: bytes) -> bytes:
    """HPKE OpenBase; any failure is a :class:`DecryptionError`."""
    try:
        ctx = _SUITE.create_recipient_context(enc, KEMKey.from_pyca_cryptography_key(secret), info)
        return ctx.open(ct, aad)
    except Exception as e:  # pyhpke raises OpenError; a bad enc raises ValueError
        raise DecryptionError("the envelope could not be opened") from e


@dataclass(frozen=True)
class SealedJob:
    """A sealed workload and what the client must keep to check its result and receipt."""

    request: SubmitRequest
    """The JSON body of ``POST /api/submit`` (send it unchanged to retry idempotently)."""
    payload_digest: bytes
    """SHA-256(enc || ct): the receipt's ``payload_digest`` and part of the result AAD."""
    program_id: str
    """The program the receipt must name (for an inline module, its SHA-256)."""
    workload_type: str
    key_id: str


def seal_job(
    pool_public_key: bytes,
    client_public_key: bytes,
    input_: bytes,
    *,
    program: str | None = None,
    inline_module: bytes | None = None,
    workload_type: str = "general",
    priority: int | None = None,
    max_retries: int | None = None,
    max_fuel: int | None = None,
    callback_url: str | None = None,
    ephemeral_secret: bytes | None = None,
) -> SealedJob:
    """Seal a job as §3.4 says.

    Give exactly one of ``program`` (hex ``program_id`` of a registered module) and
    ``inline_module`` (the module bytes, sent inside the ciphertext). The remaining keyword
    arguments are the optional submit fields; ``ephemeral_secret`` fixes the HPKE ephemeral key
    and exists only to reproduce test vectors.
    """
    if (program is None) == (inline_module is None):
        raise EnvelopeError("give exactly one of program and inline_module")
    kid = key_id(pool_public_key)
    aad = job_aad(workload_type, program, client_public_key, kid)
    enc, ct = hpke_seal(pool_public_key, JOB_INFO, aad, encode_vwl1(input_, inline_module), ephemeral_secret)
    request: SubmitRequest = {
        "encrypted_payload": base64.b64encode(ct).decode("ascii"),
        "encrypted_key": base64.b64encode(enc).decode("ascii"),
        "client_pubkey": base64.b64encode(client_public_key).decode("ascii"),
        "workload_type": workload_type,  # type: ignore[typeddict-item]  # checked in job_aad
        "key_id": kid,
    }
    if program is not None:
        request["program_id"] = program
    for name, value in (
        ("priority", priority),
        ("max_retries", max_retries),
        ("max_fuel", max_fuel),
        ("callback_url", callback_url),
    ):
        if value is not None:
            request[name] = value  # type: ignore[literal-required]
    return SealedJob(
        request=request,
        payload_digest=payload_digest(enc, ct),
        program_id=program_id(inline_module) if inline_module is not None else str(program),
        workload_type=workload_type,
        key_id=kid,
    )


def result_aad(job_id: str, digest: bytes) -> bytes:
    """The result AAD (§4.2): domain || 16 raw UUID bytes || payload_digest (69 bytes)."""
    if len(digest) != 32:
        raise EnvelopeError("payload_digest is 32 bytes")
    return RESULT_AAD_DOMAIN + uuid_bytes(job_id) + digest


@dataclass(frozen=True)
class ResultPlaintext:
    """A decoded "VRS1" result plaintext (§4.1)."""

    salt: bytes
    exit_code: int
    stdout: bytes
    stderr: bytes


def decode_vrs1(pt: bytes) -> ResultPlaintext:
    """Decode a VRS1 plaintext strictly: magic, lengths within bounds, no trailing byte."""
    if len(pt) < 48 or pt[:4] != b"VRS1":
        raise EnvelopeError("not a VRS1 result")
    salt = pt[4:36]
    (exit_code,) = struct.unpack(">i", pt[36:40])
    (n,) = struct.unpack(">I", pt[40:44])
    p = 44 + n
    if p + 4 > len(pt):
        raise EnvelopeError("VRS1 stdout length is past the end")
    (m,) = struct.unpack(">I", pt[p : p + 4])
    if p + 4 + m != len(pt):
        raise EnvelopeError("VRS1 stderr length does not match the plaintext")
    return ResultPlaintext(salt, exit_code, pt[44:p], pt[p + 4 :])


def open_result(
    client_secret: X25519PrivateKey, job_id: str, digest: bytes, encrypted_result: bytes
) -> bytes:
    """Open ``encrypted_result`` (enc || ct) as §4.3 says; returns the VRS1 plaintext."""
    if len(encrypted_result) < ENC_LEN + TAG_LEN:
        raise EnvelopeError("encrypted_result is shorter than 48 bytes")
    aad = result_aad(job_id, digest)
    return hpke_open(client_secret, encrypted_result[:ENC_LEN], RESULT_INFO, aad, encrypted_result[ENC_LEN:])
