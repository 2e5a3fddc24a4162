"""Exceptions. Everything the SDK raises on purpose derives from :class:`VesperError`.

Refusals by the gateway are :class:`ApiError` subclasses chosen by HTTP status (and, for a few
codes a caller often handles, by code). Each carries the stable ``code`` of the body
``{"error": {"code", "message"}}``, the HTTP status, the message and the ``X-Request-Id``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "GoneError",
    "IdempotencyConflictError",
    "JobFailedError",
    "KeyFileError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "ServerError",
    "UnprocessableError",
    "VerificationError",
    "VesperError",
    "api_error",
]


class VesperError(Exception):
    """Base class of the SDK's errors."""


class ProtocolError(VesperError):
    """The gateway's answer is malformed, too large, or not what the API promises."""


class VerificationError(VesperError):
    """A signature, receipt or result failed a check (docs/RECEIPT.md §6)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        """The receipt field that did not match, where one did not."""


class KeyFileError(VesperError):
    """A key file is missing, unreadable, of the wrong kind, or readable by others."""


class JobFailedError(VesperError):
    """A job ended ``failed`` or ``cancelled`` instead of ``completed``."""

    def __init__(self, job_id: str, status: str, code: str | None, message: str | None) -> None:
        super().__init__(f"job {job_id} {status}" + (f": {code} ({message})" if code else ""))
        self.job_id = job_id
        self.status = status
        self.code = code
        """The failure code (PROTOCOL.md "Failure codes"), e.g. ``decrypt_failed``."""
        self.failure_message = message


class ApiError(VesperError):
    """The gateway refused a request."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None = None,
        job_id: str | None = None,
        job_status: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        """HTTP status."""
        self.code = code
        """The stable machine code (``ErrorBody.error.code``)."""
        self.message = message
        """The sentence for people."""
        self.request_id = request_id
        """``X-Request-Id`` of the refused request (quote it to the operator)."""
        self.job_id = job_id
        """For ``idempotency_conflict``: the job the key already belongs to."""
        self.job_status = job_status
        """On errors about an existing job: its status."""
        self.retry_after = retry_after
        """``Retry-After`` in seconds, when the gateway sent one."""


class BadRequestError(ApiError):
    """400: the request is malformed (``invalid_json``, ``invalid_envelope``, ...)."""


class AuthenticationError(ApiError):
    """401: missing or refused credentials (``unauthorized``, ``signature_invalid``, ...)."""


class PermissionDeniedError(ApiError):
    """403: the credential lacks the route's scope (``forbidden``)."""


class NotFoundError(ApiError):
    """404: ``job_not_found``, ``route_not_found``."""


class ConflictError(ApiError):
    """409: ``result_not_ready``, ``job_failed``, ``job_cancelled``, ``not_cancellable``, ..."""


class GoneError(ApiError):
    """410: ``result_expired``."""


class PayloadTooLargeError(ApiError):
    """413: ``payload_too_large``."""


class UnprocessableError(ApiError):
    """422: well-formed but naming something unknown (``unknown_key_id``, ...)."""


class IdempotencyConflictError(UnprocessableError):
    """422 ``idempotency_conflict``: the key belongs to another request; see ``job_id``."""


class RateLimitedError(ApiError):
    """429: ``rate_limited`` or ``quota_exceeded``; see ``retry_after``."""


class ServerError(ApiError):
    """5xx: ``internal``, ``unavailable``, ``too_many_streams``."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: PayloadTooLargeError,
    422: UnprocessableError,
    429: RateLimitedError,
}
_BY_CODE: dict[str, type[ApiError]] = {"idempotency_conflict": IdempotencyConflictError}


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def api_error(status: int, body: Any, headers: Any) -> ApiError:
    """Build the exception for a refused request from its status, parsed body and headers."""
    code, message = "unknown", "the gateway answered without an error body"
    job_id = job_status = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = _str_or_none(body["error"].get("code")) or code
        message = _str_or_none(body["error"].get("message")) or message
        job_id = _str_or_none(body.get("job_id"))
        job_status = _str_or_none(body.get("job_status"))
    retry = headers.get("retry-after")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(
        status,
        code,
        message,
        request_id=_str_or_none(headers.get("x-request-id")),
        job_id=job_id,
        job_status=job_status,
        retry_after=int(retry) if retry is not None and retry.isdigit() else None,
    )
