"""Receipts, the signed key list, and result verification (docs/RECEIPT.md).

Ed25519 verification uses libsodium through PyNaCl. Like ed25519-dalek's ``verify_strict``,
which the gateway uses, it rejects a non-canonical ``S``, a small-order public key or ``R``,
and checks the cofactorless equation. (libsodium also rejects a non-canonical encoding of the
public key; honest keys never have one.) OpenSSL, behind `cryptography`, accepts small-order
keys, so it is not used for verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ._generated import ExecutionProof, KeysResponse, ResultResponse
from .envelope import (
    SUITE_NAME,
    WORKLOAD_TYPES,
    EnvelopeError,
    ResultPlaintext,
    b64decode_strict,
    decode_vrs1,
    key_id,
    open_result,
    uuid_bytes,
)
from .errors import VerificationError, VesperError

__all__ = [
    "KeySet",
    "PoolKey",
    "Receipt",
    "VerifiedResult",
    "keyset_message",
    "result_hash",
    "verify_ed25519",
    "verify_result",
]

RECEIPT_DOMAIN = b"vesper/v1/receipt\0"
KEYS_DOMAIN = b"vesper/v1/keys\0"
RESULT_HASH_DOMAIN = b"vesper/v1/result-hash\0"
CHECKED_FACTS = ("program_id", "workload_type", "payload_digest")

_HEX = re.compile(r"[0-9a-f]*\Z")
_U64 = 1 << 64


def _hex(value: Any, length: int, what: str) -> bytes:
    """Lowercase hex of exactly ``length`` bytes (uppercase is refused, never normalised)."""
    if not isinstance(value, str) or len(value) != 2 * length or not _HEX.match(value):
        raise VerificationError(f"{what} is not {length} bytes of lowercase hex", what)
    return bytes.fromhex(value)


def _u64(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value < _U64:
        raise VerificationError(f"{what} is not an unsigned 64-bit integer", what)
    return value


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify a pure Ed25519 signature with the strict rules of RECEIPT.md §4."""
    if len(public_key) != 32 or len(signature) != 64:
        raise VerificationError("bad Ed25519 key or signature length")
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as e:
        raise VerificationError("Ed25519 signature does not verify") from e


def result_hash(vrs1_plaintext: bytes) -> bytes:
    """SHA-256("vesper/v1/result-hash\\0" || whole VRS1 plaintext) (RECEIPT.md §3)."""
    return hashlib.sha256(RESULT_HASH_DOMAIN + vrs1_plaintext).digest()


@dataclass(frozen=True)
class Receipt:
    """A worker's receipt (RECEIPT.md §1); hex fields are lowercase hex strings."""

    job_id: str
    program_id: str
    workload_type: str
    payload_digest: str
    result_digest: str
    result_hash: str
    fuel_used: int
    execution_time_ms: int
    started_at: int
    completed_at: int
    worker_id: str
    worker_pubkey: str
    worker_signature: str = ""
    version: int = 1

    @classmethod
    def from_json(cls, proof: ExecutionProof | Mapping[str, Any]) -> Receipt:
        """Parse ``execution_proof`` strictly: every field present, typed and well-formed."""
        try:
            r = cls(**{name: proof[name] for name in cls.__dataclass_fields__})  # type: ignore[literal-required]
        except (KeyError, TypeError) as e:
            raise VerificationError("execution_proof lacks a field") from e
        r.canonical_bytes()
        _hex(r.worker_signature, 64, "worker_signature")
        return r

    def canonical_bytes(self) -> bytes:
        """The canonical encoding of RECEIPT.md §2 (checks every field on the way)."""
        if type(self.version) is not int or self.version != 1:
            raise VerificationError("unknown receipt version", "version")
        if self.workload_type not in WORKLOAD_TYPES:
            raise VerificationError("unknown workload_type", "workload_type")
        if not isinstance(self.worker_id, str) or not 1 <= len(self.worker_id.encode()) <= 255:
            raise VerificationError("worker_id is not 1-255 bytes", "worker_id")
        try:
            job = uuid_bytes(self.job_id)
        except EnvelopeError as e:
            raise VerificationError(str(e), "job_id") from e
        wt = self.workload_type.encode("ascii")
        wid = self.worker_id.encode()
        return b"".join(
            [
                b"\x01",
                job,
                _hex(self.program_id, 32, "program_id"),
                bytes([len(wt)]) + wt,
                _hex(self.payload_digest, 32, "payload_digest"),
                _hex(self.result_digest, 32, "result_digest"),
                _hex(self.result_hash, 32, "result_hash"),
                struct.pack(
                    ">QQQQ",
                    _u64(self.fuel_used, "fuel_used"),
                    _u64(self.execution_time_ms, "execution_time_ms"),
                    _u64(self.started_at, "started_at"),
                    _u64(self.completed_at, "completed_at"),
                ),
                bytes([len(wid)]) + wid,
                _hex(self.worker_pubkey, 32, "worker_pubkey"),
            ]
        )

    def signed_message(self) -> bytes:
        """What the worker signs: ``"vesper/v1/receipt\\0" || canonical encoding``."""
        return RECEIPT_DOMAIN + self.canonical_bytes()

    def verify_signature(self) -> None:
        """Check ``worker_signature`` under ``worker_pubkey`` (step (a) of §6)."""
        verify_ed25519(
            _hex(self.worker_pubkey, 32, "worker_pubkey"),
            self.signed_message(),
            _hex(self.worker_signature, 64, "worker_signature"),
        )


@dataclass(frozen=True)
class PoolKey:
    """A pool encryption key from ``GET /api/keys``."""

    key_id: str
    public_key: bytes


@dataclass(frozen=True)
class KeySet:
    """The gateway's published keys, after its signature was checked."""

    pool_keys: tuple[PoolKey, ...]
    """Current key first."""
    worker_keys: tuple[tuple[str, bytes], ...]
    """``(worker_id, Ed25519 public key)`` pairs."""
    gateway_key: bytes

    @property
    def current_pool_key(self) -> PoolKey:
        """The key new jobs are sealed to."""
        return self.pool_keys[0]

    def worker_key_set(self) -> frozenset[bytes]:
        """The worker public keys, for step (c)."""
        return frozenset(k for _, k in self.worker_keys)

    @classmethod
    def from_json(cls, body: KeysResponse | Mapping[str, Any], pinned_gateway_key: bytes | None = None) -> KeySet:
        """Parse ``GET /api/keys`` and verify the gateway's signature over it (§6).

        With ``pinned_gateway_key`` the list must also be signed by exactly that key.
        """
        try:
            gateway_key = _hex(body["gateway_key"], 32, "gateway_key")
            signature = _hex(body["signature"], 64, "signature")
            pools, workers = body["pool_keys"], body["worker_keys"]
            if not isinstance(pools, list) or not isinstance(workers, list) or not pools:
                raise VerificationError("the key list has no pool key")
            pool_keys = []
            for k in pools:
                raw = b64decode_strict(k["public_key"], "pool public_key")
                if len(raw) != 32 or k["suite"] != SUITE_NAME:
                    raise VerificationError("a pool key is not a 32-byte key of the v1 suite")
                if k["key_id"] != key_id(raw):
                    raise VerificationError("a pool key's key_id does not match its public_key")
                pool_keys.append(PoolKey(k["key_id"], raw))
            worker_keys = []
            for w in workers:
                if not isinstance(w["worker_id"], str):
                    raise VerificationError("worker_id is not a string")
                worker_keys.append((w["worker_id"], _hex(w["public_key"], 32, "worker public_key")))
        except (KeyError, TypeError, EnvelopeError) as e:
            raise VerificationError(f"malformed key list: {e}") from e
        if pinned_gateway_key is not None and not hmac.compare_digest(pinned_gateway_key, gateway_key):
            raise VerificationError("key list signed by an unexpected gateway key")
        keys = cls(tuple(pool_keys), tuple(worker_keys), gateway_key)
        verify_ed25519(gateway_key, keyset_message(keys.pool_keys, keys.worker_keys), signature)
        return keys


def keyset_message(pool_keys: Iterable[PoolKey], worker_keys: Iterable[tuple[str, bytes]]) -> bytes:
    """The bytes the gateway signs over its key list (RECEIPT.md §6, "Published keys")."""
    pools, workers = list(pool_keys), list(worker_keys)
    out = [KEYS_DOMAIN, struct.pack(">H", len(pools))]
    out += [k.public_key for k in pools]
    out.append(struct.pack(">H", len(workers)))
    for wid, pk in workers:
        raw = wid.encode()
        if len(raw) > 255:
            raise VerificationError("worker_id is over 255 bytes")
        out += [bytes([len(raw)]), raw, pk]
    return b"".join(out)


@dataclass(frozen=True)
class VerifiedResult:
    """A result whose receipt passed the checks; ``plaintext`` is set when it was opened."""

    receipt: Receipt
    plaintext: ResultPlaintext | None
    unchecked: tuple[str, ...] = field(default=())
    """Receipt fields not compared with the submission (no expected value was given)."""


def verify_result(
    body: ResultResponse | Mapping[str, Any],
    worker_keys: Iterable[bytes],
    *,
    client_secret: X25519PrivateKey | None = None,
    expected: Mapping[str, str] | None = None,
) -> VerifiedResult:
    """Check a ``GET /api/result/{job_id}`` body as RECEIPT.md §6 says, "By the client".

    (a) the receipt's signature, and that it is for this body's job; (b) ``result_digest``
    against ``encrypted_result``; (c) the worker key is in ``worker_keys`` (from
    :meth:`KeySet.worker_key_set` or pinned); (d) each of ``program_id``, ``workload_type``,
    ``payload_digest`` given in ``expected`` (hex strings, as sealed) matches; (e) with
    ``client_secret``, open the result with the expected ``payload_digest`` (else the
    receipt's) and check ``result_hash``. Raises :class:`VerificationError` on any failure.
    """
    try:
        proof, top_job, sealed_b64 = body["execution_proof"], body["job_id"], body["encrypted_result"]
    except (KeyError, TypeError) as e:
        raise VerificationError("not a result body") from e
    if not isinstance(proof, Mapping):
        raise VerificationError("execution_proof is not an object")
    receipt = Receipt.from_json(proof)
    if top_job != receipt.job_id:
        raise VerificationError("receipt is for another job", "job_id")
    receipt.verify_signature()  # (a)
    if receipt.worker_pubkey not in {k.hex() for k in worker_keys}:  # (c)
        raise VerificationError("receipt signed by a key that is not a pool worker", "worker_pubkey")
    expected = dict(expected or {})
    unknown = set(expected) - set(CHECKED_FACTS)
    if unknown:
        raise ValueError(f"cannot check {sorted(unknown)}")
    for name, want in expected.items():  # (d)
        if getattr(receipt, name) != want:
            raise VerificationError(f"{name} does not match the job you submitted", name)
    try:
        sealed = b64decode_strict(sealed_b64, "encrypted_result")
    except EnvelopeError as e:
        raise VerificationError(str(e), "encrypted_result") from e
    if not hmac.compare_digest(hashlib.sha256(sealed).digest(), bytes.fromhex(receipt.result_digest)):
        raise VerificationError("encrypted_result does not match the receipt", "result_digest")  # (b)
    plaintext = None
    if client_secret is not None:  # (e)
        digest = bytes.fromhex(expected.get("payload_digest", receipt.payload_digest))
        try:
            pt = open_result(client_secret, receipt.job_id, digest, sealed)
            plaintext = decode_vrs1(pt)
        except VesperError as e:
            raise VerificationError(f"result could not be opened with this key: {e}", "encrypted_result") from e
        if not hmac.compare_digest(result_hash(pt), bytes.fromhex(receipt.result_hash)):
            raise VerificationError("result_hash does not match the result", "result_hash")
    return VerifiedResult(receipt, plaintext, tuple(n for n in CHECKED_FACTS if n not in expected))
