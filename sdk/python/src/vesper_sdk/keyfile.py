"""Key files, in the Rust CLI's format (crates/vesper-crypto/src/keyfile.rs).

A key file is one line ``<label>:<value>\\n``, created with mode 0600; a file that its group
or others can read is refused. The client identity is ``vesper-x25519-secret:<64 hex>``; an
API key file is ``vesper-api-key:vsk_…`` as ``vesper dev`` and ``vesper key create --out``
write it (a file holding only the key text is accepted too).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from .envelope import x25519_public_bytes
from .errors import KeyFileError

__all__ = ["ClientKey", "read_api_key_file"]

X25519_LABEL = "vesper-x25519-secret"
API_KEY_LABEL = "vesper-api-key"
_MAX_KEY_FILE = 4096
_HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")


def _read_private(path: Path) -> str:
    """Read a small secret file, refusing one its group or others can read."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise KeyFileError(f"{path} has mode {mode:o}: its group or others can read it (chmod 600 it)")
        with open(path, "rb") as f:
            raw = f.read(_MAX_KEY_FILE + 1)
    except OSError as e:
        raise KeyFileError(f"cannot read {path}: {e.strerror}") from e
    if len(raw) > _MAX_KEY_FILE:
        raise KeyFileError(f"{path} is too large for a key file")
    try:
        return raw.decode("utf-8").rstrip()
    except UnicodeDecodeError as e:
        raise KeyFileError(f"{path} is not a key file") from e


def _write_private(path: Path, text: str, overwrite: bool) -> None:
    """Write atomically (temporary file, fsync, rename) with mode 0600."""
    if not overwrite and path.exists():
        raise KeyFileError(f"{path} exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write {path}: {e.strerror}") from e


class ClientKey:
    """The client's X25519 key pair: results are sealed to its public key."""

    def __init__(self, secret: X25519PrivateKey) -> None:
        self.secret = secret
        self.public_bytes = x25519_public_bytes(secret)
        """The raw 32-byte public key (``client_pubkey``)."""

    @classmethod
    def generate(cls) -> ClientKey:
        """A fresh random key pair."""
        return cls.from_bytes(secrets.token_bytes(32))

    @classmethod
    def from_bytes(cls, secret: bytes) -> ClientKey:
        """From the 32-byte secret (clamped by X25519 on use)."""
        if len(secret) != 32:
            raise KeyFileError("an X25519 secret key is 32 bytes")
        return cls(X25519PrivateKey.from_private_bytes(secret))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClientKey:
        """Read a ``vesper-x25519-secret:<hex>`` file (mode 0600, as ``vesper keygen`` writes)."""
        p = Path(path)
        label, sep, value = _read_private(p).partition(":")
        if not sep or label != X25519_LABEL:
            raise KeyFileError(f"{p} is not a {X25519_LABEL} key file")
        if not _HEX64.match(value):
            raise KeyFileError(f"{p} does not hold 32 bytes of hex")
        return cls.from_bytes(bytes.fromhex(value))

    def save(self, path: str | os.PathLike[str], overwrite: bool = False) -> None:
        """Write the secret as ``vesper-x25519-secret:<64 lowercase hex>\\n``, mode 0600."""
        raw = self.secret.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        _write_private(Path(path), f"{X25519_LABEL}:{raw.hex()}\n", overwrite)

    @property
    def public_base64(self) -> str:
        """The public key as the gateway shows it (standard base64)."""
        return base64.b64encode(self.public_bytes).decode("ascii")

    def __repr__(self) -> str:
        return f"ClientKey(public={self.public_base64})"


def read_api_key_file(path: str | os.PathLike[str]) -> str:
    """The API key in ``path``: ``vesper-api-key:<key>`` (the Rust CLI's format) or the bare key.

    The file must not be readable by its group or others, as the Rust CLI requires.
    """
    p = Path(path)
    text = _read_private(p)
    label, sep, value = text.partition(":")
    if sep and label == API_KEY_LABEL:
        text = value
    if not text or any(c.isspace() for c in text) or not text.isascii():
        raise KeyFileError(f"{p} does not hold an API key")
    return text
