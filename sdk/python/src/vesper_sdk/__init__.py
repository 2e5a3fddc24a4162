"""Python SDK for Vesper: private, verifiable compute.

Seal a WebAssembly workload to the pool key (docs/ENVELOPE.md), submit it, follow its status,
then verify the worker's signed receipt (docs/RECEIPT.md) and open the result sealed to your
own X25519 key. Requests authenticate with an API key or a wallet signature (docs/AUTH.md).

>>> from vesper_sdk import ApiKeyAuth, Client, ClientKey     # doctest: +SKIP
>>> with Client("http://127.0.0.1:8080", ApiKeyAuth(key)) as c:
...     result = c.run(ClientKey.generate(), b"hello\\n", inline_module=wasm)
...     print(result.exit_code, result.stdout)
"""

from ._version import __version__
from .auth import ApiKeyAuth, Ed25519Wallet, Eip191Wallet, WalletAuth, canonical_request
from .client import Client, JobResult, StatusCallback, Submission, WaitTimeout
from .envelope import DecryptionError, EnvelopeError, ResultPlaintext, SealedJob, key_id, program_id, seal_job
from .errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    IdempotencyConflictError,
    JobFailedError,
    KeyFileError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UnprocessableError,
    VerificationError,
    VesperError,
)
from .keyfile import ClientKey, read_api_key_file
from .receipt import KeySet, PoolKey, Receipt, VerifiedResult, verify_result

__all__ = [
    "ApiError",
    "ApiKeyAuth",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientKey",
    "ConflictError",
    "DecryptionError",
    "Ed25519Wallet",
    "Eip191Wallet",
    "EnvelopeError",
    "GoneError",
    "IdempotencyConflictError",
    "JobFailedError",
    "JobResult",
    "KeyFileError",
    "KeySet",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PoolKey",
    "ProtocolError",
    "RateLimitedError",
    "Receipt",
    "ResultPlaintext",
    "SealedJob",
    "ServerError",
    "StatusCallback",
    "Submission",
    "UnprocessableError",
    "VerificationError",
    "VerifiedResult",
    "VesperError",
    "WaitTimeout",
    "WalletAuth",
    "__version__",
    "canonical_request",
    "key_id",
    "program_id",
    "read_api_key_file",
    "seal_job",
    "verify_result",
]
