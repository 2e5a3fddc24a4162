"""Request authentication (docs/AUTH.md): Bearer API keys and wallet signatures.

Each credential is an :class:`httpx.Auth`, so it sees the request exactly as it will be sent:
a wallet signs the method, the request target as it appears on the request line
(``request.url.raw_path``), the SHA-256 of the exact body bytes, a timestamp, a fresh nonce
and its canonical wallet id (§3.2).

EIP-191 uses `coincurve` (libsecp256k1, the library Vesper's vectors were made with) and
`pycryptodome`'s Keccak-256: two self-contained packages, where `eth-account` would bring a
dozen, pydantic among them. Install them with ``pip install 'vesper-sdk[eip191]'``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Generator
from typing import Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ApiKeyAuth",
    "Ed25519Wallet",
    "Eip191Wallet",
    "WalletAuth",
    "canonical_request",
    "eip191_digest",
    "keccak256",
]

_API_KEY = re.compile(r"[!-~]+\Z")
_HEX = re.compile(r"(0x)?([0-9a-fA-F]{64})\Z")


class ApiKeyAuth(httpx.Auth):
    """``Authorization: Bearer vsk_…`` (AUTH.md §2)."""

    def __init__(self, api_key: str) -> None:
        if not _API_KEY.match(api_key):
            raise ValueError("an API key is printable ASCII without spaces")
        self._header = f"Bearer {api_key}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:  # never show the key
        return "ApiKeyAuth(<redacted>)"


def canonical_request(method: str, path_and_query: str, body: bytes, timestamp: int | str, nonce: str, wallet_id: str) -> str:
    """The string a wallet signs (AUTH.md §3.2): seven lines, no trailing newline."""
    return "\n".join(
        [
            "vesper-auth-v1",
            method.upper(),
            path_and_query,
            hashlib.sha256(body).hexdigest(),
            str(timestamp),
            nonce,
            wallet_id,
        ]
    )


class Signer(Protocol):
    """A wallet: its canonical id and a way to sign a canonical request."""

    @property
    def wallet_id(self) -> str: ...

    def sign(self, message: bytes) -> str:
        """The ``X-Vesper-Signature`` value for ``message``."""
        ...


def _secret32(secret: bytes | str) -> bytes:
    if isinstance(secret, str):
        m = _HEX.match(secret.strip())
        if not m:
            raise ValueError("a secret key is 32 bytes, or 64 hex digits")
        return bytes.fromhex(m.group(2))
    if len(secret) != 32:
        raise ValueError("a secret key is 32 bytes")
    return bytes(secret)


class Ed25519Wallet:
    """An Ed25519 wallet (Solana, Cardano, ...): signs the canonical request's bytes directly."""

    def __init__(self, seed: bytes | str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(_secret32(seed))
        pub = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._wallet_id = "ed25519:" + pub.hex()

    @classmethod
    def generate(cls) -> Ed25519Wallet:
        """A fresh random wallet."""
        return cls(secrets.token_bytes(32))

    @property
    def wallet_id(self) -> str:
        """``ed25519:<64 lowercase hex>``."""
        return self._wallet_id

    def sign(self, message: bytes) -> str:
        """RFC 8032 Ed25519 over ``message``, as hex."""
        return self._key.sign(message).hex()

    def __repr__(self) -> str:
        return f"Ed25519Wallet({self._wallet_id})"


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's, not SHA3-256)."""
    from Crypto.Hash import keccak  # the eip191 extra

    return keccak.new(digest_bits=256, data=data).digest()


def eip191_digest(message: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n" || len(message) || message)."""
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


class Eip191Wallet:
    """An Ethereum account signing with EIP-191 ``personal_sign`` (secp256k1)."""

    def __init__(self, secret: bytes | str) -> None:
        try:
            import coincurve
        except ImportError as e:  # pragma: no cover - depends on the installation
            raise ImportError("EIP-191 wallets need: pip install 'vesper-sdk[eip191]'") from e
        self._key = coincurve.PrivateKey(_secret32(secret))
        point = self._key.public_key.format(compressed=False)[1:]
        self._wallet_id = "eip191:0x" + keccak256(point)[-20:].hex()

    @classmethod
    def generate(cls) -> Eip191Wallet:
        """A fresh random account."""
        return cls(secrets.token_bytes(32))

    @property
    def wallet_id(self) -> str:
        """``eip191:0x<40 lowercase hex>`` (the canonical form)."""
        return self._wallet_id

    @property
    def address(self) -> str:
        """The account's address, lowercase ``0x…``."""
        return self._wallet_id.removeprefix("eip191:")

    def sign(self, message: bytes) -> str:
        """``0x`` + hex of ``r || s || v`` with ``v`` in {27, 28} (low ``s``, RFC 6979)."""
        rsv = self._key.sign_recoverable(eip191_digest(message), hasher=None)
        return "0x" + (rsv[:64] + bytes([rsv[64] + 27])).hex()

    def __repr__(self) -> str:
        return f"Eip191Wallet({self._wallet_id})"


class WalletAuth(httpx.Auth):
    """The four ``X-Vesper-*`` headers of AUTH.md §3.1, signed over each request."""

    requires_request_body = True

    def __init__(self, wallet: Signer, clock: Callable[[], float] = time.time) -> None:
        self.wallet = wallet
        self._clock = clock

    def headers(self, method: str, path_and_query: str, body: bytes, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        """The headers for one request; a fresh timestamp and nonce unless given."""
        ts = int(self._clock()) if timestamp is None else timestamp
        nonce = nonce or secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]
        message = canonical_request(method, path_and_query, body, ts, nonce, self.wallet.wallet_id)
        return {
            "X-Vesper-Wallet": self.wallet.wallet_id,
            "X-Vesper-Timestamp": str(ts),
            "X-Vesper-Nonce": nonce,
            "X-Vesper-Signature": self.wallet.sign(message.encode()),
        }

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        request.headers.update(self.headers(request.method, target, request.content))
        yield request
