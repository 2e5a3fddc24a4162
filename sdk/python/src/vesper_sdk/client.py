"""The HTTP client: keys, programs, sealing and submitting, waiting, results.

:class:`Client` talks to one gateway with one credential (:mod:`vesper_sdk.auth`). Every
answer is read with a size limit and parsed strictly; refusals become
:class:`~vesper_sdk.errors.ApiError` subclasses. Waiting follows the live status stream
(``GET /api/events?job_id=``, Server-Sent Events) and falls back to long polls of
``GET /api/status/{job_id}`` when the stream cannot be used.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import httpx
from typing_extensions import Self

from ._generated import HealthResponse, ProgramResponse, ResultResponse, StatusResponse, SubmitResponse
from ._version import __version__
from .envelope import SealedJob, program_id, seal_job
from .errors import (
    ApiError,
    JobFailedError,
    ProtocolError,
    ServerError,
    VerificationError,
    VesperError,
    api_error,
)
from .keyfile import ClientKey
from .receipt import KeySet, Receipt, VerifiedResult, verify_result

__all__ = ["Client", "JobResult", "StatusCallback", "Submission", "WaitTimeout"]

StatusCallback = Callable[[str, str], None]
"""Called as ``callback(job_id, status)`` each time a job's status changes."""

TERMINAL = frozenset({"completed", "failed", "cancelled"})
JOB_STATUSES = frozenset({"queued", "processing"}) | TERMINAL
_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_ERROR_BODY_LIMIT = 64 * 1024
_MAX_EVENT = 64 * 1024


class WaitTimeout(VesperError):
    """A job did not finish within the time given to wait for it."""


def _check_job_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise ValueError(f"not a canonical job id: {job_id!r}")
    return job_id


@dataclass(frozen=True)
class Submission:
    """An accepted job, with the sealed request it was made from."""

    job_id: str
    status: str
    estimated_wait: int
    created_at: str
    replayed: bool | None
    """True when the gateway answered an earlier request with the same ``Idempotency-Key``;
    ``None`` for batch items (the batch answer does not say)."""
    sealed: SealedJob

    @property
    def expected(self) -> dict[str, str]:
        """What the receipt must state: ``program_id``, ``workload_type``, ``payload_digest``."""
        return {
            "program_id": self.sealed.program_id,
            "workload_type": self.sealed.workload_type,
            "payload_digest": self.sealed.payload_digest.hex(),
        }


@dataclass(frozen=True)
class JobResult:
    """A verified, opened result."""

    job_id: str
    exit_code: int
    stdout: bytes
    stderr: bytes
    receipt: Receipt
    unchecked: tuple[str, ...]
    """Receipt fields not compared with a submission (empty when all were)."""
    raw: bytes
    """The body of ``GET /api/result/{job_id}`` exactly as served (what ``vesper verify`` reads)."""

    def save(self, path: str | Path) -> None:
        """Write the raw result body, e.g. for ``python -m vesper_sdk verify``."""
        Path(path).write_bytes(self.raw)


class Client:
    """A client of one Vesper gateway.

    ``auth`` is an :class:`~vesper_sdk.auth.ApiKeyAuth` or a
    :class:`~vesper_sdk.auth.WalletAuth` (``None`` reaches only the public routes).
    ``gateway_key`` pins the gateway's Ed25519 key: the key list must be signed by it.
    ``worker_keys`` pins the workers' Ed25519 keys instead of trusting ``GET /api/keys``
    for receipt check (c). ``max_json_bytes`` and ``max_result_bytes`` bound what is read.
    ``timeout`` (seconds) applies to each request, plus the wait of a long poll;
    ``transport`` replaces httpx's (for tests or custom TLS).
    """

    def __init__(
        self,
        gateway: str,
        auth: httpx.Auth | None = None,
        *,
        timeout: float = 30.0,
        gateway_key: bytes | None = None,
        worker_keys: Iterable[bytes] | None = None,
        max_json_bytes: int = 1 << 20,
        max_result_bytes: int = 64 << 20,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=gateway.rstrip("/"),
            auth=auth,
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": f"vesper-sdk-python/{__version__}"},
            transport=transport,
        )
        self._timeout = timeout
        self._gateway_key = gateway_key
        self._pinned_workers = frozenset(worker_keys) if worker_keys is not None else None
        self._max_json = max_json_bytes
        self._max_result = max_result_bytes
        self._keys: KeySet | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
        long_poll: int = 0,
    ) -> _Answer:
        """Send a request; return its answer, read up to ``limit`` bytes.

        ``long_poll`` is how long the gateway may hold the answer back (added to the timeout).
        A refusal (any status but 2xx) raises the matching :class:`ApiError`.
        """
        timeout = httpx.Timeout(self._timeout + long_poll)
        request = self._http.build_request(method, path, content=content or None, headers=headers, timeout=timeout)
        response = self._http.send(request, stream=True)
        try:
            if not response.is_success:
                raise _refusal(response)
            return _Answer(self._read_limited(response, limit or self._max_json), response.headers)
        finally:
            response.close()

    @staticmethod
    def _read_limited(response: httpx.Response, limit: int) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ProtocolError(f"answer of {declared} bytes is over the {limit}-byte limit")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise ProtocolError(f"answer is over the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def _json(
        self, method: str, path: str, *, body: Any = None, headers: Mapping[str, str] | None = None, long_poll: int = 0
    ) -> tuple[dict[str, Any], _Answer]:
        """A JSON request (compact, deterministic serialisation) answered by a JSON object."""
        hdrs = dict(headers or {})
        content = b""
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            hdrs["Content-Type"] = "application/json"
        answer = self._request(method, path, content=content, headers=hdrs, long_poll=long_poll)
        return _object(answer.content), answer

    # ---- keys and programs -----------------------------------------------------------------

    def health(self) -> HealthResponse:
        """``GET /health``."""
        return cast(HealthResponse, self._json("GET", "/health")[0])

    def keys(self, refresh: bool = False) -> KeySet:
        """``GET /api/keys``, its gateway signature verified (cached until ``refresh``)."""
        if self._keys is None or refresh:
            body, _ = self._json("GET", "/api/keys")
            self._keys = KeySet.from_json(body, self._gateway_key)
        return self._keys

    def upload_program(self, module: bytes) -> str:
        """``POST /api/programs``: register a WebAssembly module; returns its ``program_id``."""
        if not module.startswith(b"\0asm"):
            raise ValueError("not a WebAssembly binary module (no \\0asm header)")
        answer = self._request("POST", "/api/programs", content=module, headers={"Content-Type": "application/wasm"})
        body = cast(ProgramResponse, _object(answer.content))
        if body.get("program_id") != program_id(module):
            raise ProtocolError("the gateway registered the module under another program_id")
        return body["program_id"]

    # ---- submitting ------------------------------------------------------------------------

    def seal(
        self,
        identity: ClientKey,
        input_: bytes,
        *,
        program: str | None = None,
        inline_module: bytes | None = None,
        workload_type: str = "general",
        priority: int | None = None,
        max_retries: int | None = None,
        max_fuel: int | None = None,
        callback_url: str | None = None,
    ) -> SealedJob:
        """Seal a job to the gateway's current pool key (see :func:`~vesper_sdk.envelope.seal_job`)."""
        return seal_job(
            self.keys().current_pool_key.public_key,
            identity.public_bytes,
            input_,
            program=program,
            inline_module=inline_module,
            workload_type=workload_type,
            priority=priority,
            max_retries=max_retries,
            max_fuel=max_fuel,
            callback_url=callback_url,
        )

    def submit_sealed(self, sealed: SealedJob, idempotency_key: str | None = None) -> Submission:
        """``POST /api/submit``. Resending the same ``sealed`` with the same
        ``idempotency_key`` answers the original job; a new seal with that key is refused
        (:class:`~vesper_sdk.errors.IdempotencyConflictError`)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        body, answer = self._json("POST", "/api/submit", body=sealed.request, headers=headers)
        replayed = answer.headers.get("idempotent-replayed") == "true"
        return _submission(cast(SubmitResponse, body), sealed, replayed)

    def submit(self, identity: ClientKey, input_: bytes, *, idempotency_key: str | None = None, **seal_options: Any) -> Submission:
        """Seal (:meth:`seal` takes the options) and submit one job."""
        return self.submit_sealed(self.seal(identity, input_, **seal_options), idempotency_key)

    def submit_batch(self, sealed: Sequence[SealedJob], idempotency_key: str | None = None) -> list[Submission]:
        """``POST /api/submit/batch``: all jobs stored, in order, or none. Job ``i`` gets the
        idempotency key ``"<idempotency_key>#i"``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        body, _ = self._json("POST", "/api/submit/batch", body={"jobs": [s.request for s in sealed]}, headers=headers)
        jobs = body.get("jobs")
        if not isinstance(jobs, list) or len(jobs) != len(sealed):
            raise ProtocolError("the batch answer does not have one job per submission")
        return [_submission(cast(SubmitResponse, _object_value(j)), s, None) for j, s in zip(jobs, sealed)]

    # ---- status and waiting ----------------------------------------------------------------

    def status(self, job_id: str, wait: int = 0) -> StatusResponse:
        """``GET /api/status/{job_id}``; with ``wait`` seconds, a long poll until terminal."""
        _check_job_id(job_id)
        path = f"/api/status/{job_id}" + (f"?wait={int(wait)}" if wait > 0 else "")
        body, _ = self._json("GET", path, long_poll=max(0, int(wait)))
        if body.get("job_id") != job_id or body.get("status") not in JOB_STATUSES:
            raise ProtocolError("malformed status answer")
        return cast(StatusResponse, body)

    def wait(
        self,
        job_id: str,
        *,
        on_status: StatusCallback | None = None,
        timeout: float | None = None,
        poll_wait: int = 2,
        use_events: bool = True,
    ) -> StatusResponse:
        """Wait until the job is terminal; return its final status.

        ``on_status(job_id, status)`` is called for each status seen that differs from the
        previous one. The live stream is tried first (unless ``use_events`` is false); if it
        cannot be used, the status is long-polled ``poll_wait`` seconds at a time. Raises
        :class:`WaitTimeout` after ``timeout`` seconds.
        """
        _check_job_id(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: str | None = None

        def report(status: str) -> None:
            nonlocal last
            if status != last:
                last = status
                if on_status is not None:
                    on_status(job_id, status)

        if use_events:
            try:
                self._follow(job_id, report, deadline)
                return self.status(job_id)
            except (httpx.HTTPError, ProtocolError, ServerError):
                pass  # the stream could not be used: poll instead
            except ApiError as e:
                if e.code != "route_not_found":
                    raise
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise WaitTimeout(f"job {job_id} did not finish in {timeout} s")
            step = poll_wait if remaining is None else max(1, min(poll_wait, int(remaining)))
            st = self.status(job_id, wait=step)
            report(st["status"])
            if st["status"] in TERMINAL:
                return st

    def _follow(self, job_id: str, report: Callable[[str], None], deadline: float | None) -> str:
        """Follow ``GET /api/events?job_id=`` until a terminal status, which is returned."""
        # Keep-alives come every 15 s, so a longer silence means the stream is dead.
        read = 45.0 if deadline is None else min(45.0, max(1.0, deadline - time.monotonic()))
        timeout = httpx.Timeout(self._timeout, read=read)
        request = self._http.build_request(
            "GET", f"/api/events?job_id={job_id}", headers={"Accept": "text/event-stream"}, timeout=timeout
        )
        response = self._http.send(request, stream=True)
        try:
            if not response.is_success:
                raise _refusal(response)
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                raise ProtocolError("the event stream is not text/event-stream")
            for event, data in _sse_events(_until(deadline, job_id, response.iter_bytes())):
                status: str
                if event == "status":
                    ev = _object(data.encode())
                    if ev.get("job_id") != job_id or ev.get("status") not in JOB_STATUSES:
                        raise ProtocolError("malformed status event")
                    status = ev["status"]
                elif event == "resync":  # the stream fell behind: ask directly
                    status = self.status(job_id)["status"]
                else:
                    continue
                report(status)
                if status in TERMINAL:
                    return status
        finally:
            response.close()
        raise ProtocolError("the event stream ended before the job did")

    # ---- results ---------------------------------------------------------------------------

    def fetch_result(self, job_id: str, wait: int = 0) -> tuple[ResultResponse, bytes]:
        """``GET /api/result/{job_id}``: the parsed body and the raw bytes, unverified."""
        _check_job_id(job_id)
        path = f"/api/result/{job_id}" + (f"?wait={int(wait)}" if wait > 0 else "")
        answer = self._request("GET", path, limit=self._max_result, long_poll=max(0, int(wait)))
        return cast(ResultResponse, _object(answer.content)), answer.content

    def verify(
        self,
        body: ResultResponse | Mapping[str, Any],
        *,
        identity: ClientKey | None = None,
        expected: Mapping[str, str] | None = None,
    ) -> VerifiedResult:
        """Verify a result body (RECEIPT.md §6) against the pool's worker keys (pinned, or
        from ``GET /api/keys``, fetched again once if the signer is not among the cached ones)."""
        secret = identity.secret if identity is not None else None
        if self._pinned_workers is not None:
            return verify_result(body, self._pinned_workers, client_secret=secret, expected=expected)
        cached = self._keys is not None
        try:
            return verify_result(body, self.keys().worker_key_set(), client_secret=secret, expected=expected)
        except VerificationError as e:
            if not (cached and e.field == "worker_pubkey"):
                raise
        return verify_result(body, self.keys(refresh=True).worker_key_set(), client_secret=secret, expected=expected)

    def result(
        self,
        job_id: str,
        identity: ClientKey,
        *,
        expected: Mapping[str, str] | None = None,
        on_status: StatusCallback | None = None,
        timeout: float | None = None,
    ) -> JobResult:
        """Wait for the job, fetch its result, verify the receipt and open the result.

        ``expected`` is what was sealed (:attr:`Submission.expected`); fields left out are
        not compared (they are listed in :attr:`JobResult.unchecked`) and the result is
        opened with the receipt's ``payload_digest``. A job that failed or was cancelled
        raises :class:`~vesper_sdk.errors.JobFailedError`.
        """
        final = self.wait(job_id, on_status=on_status, timeout=timeout)
        if final["status"] != "completed":
            err = final.get("error")
            raise JobFailedError(job_id, final["status"], err and err["code"], err and err["message"])
        body, raw = self.fetch_result(job_id)
        v = self.verify(body, identity=identity, expected=expected)
        assert v.plaintext is not None  # opened with the identity
        return JobResult(
            job_id=job_id,
            exit_code=v.plaintext.exit_code,
            stdout=v.plaintext.stdout,
            stderr=v.plaintext.stderr,
            receipt=v.receipt,
            unchecked=v.unchecked,
            raw=raw,
        )

    def run(self, identity: ClientKey, input_: bytes, *, on_status: StatusCallback | None = None, timeout: float | None = None, **seal_options: Any) -> JobResult:
        """Seal, submit, wait, verify against the submission and open: one call."""
        sub = self.submit(identity, input_, **seal_options)
        return self.result(sub.job_id, identity, expected=sub.expected, on_status=on_status, timeout=timeout)


class _Answer(NamedTuple):
    content: bytes
    headers: httpx.Headers


def _refusal(response: httpx.Response) -> ApiError:
    """The error for a non-2xx response (its body read up to 64 KiB)."""
    try:
        parsed = json.loads(Client._read_limited(response, _ERROR_BODY_LIMIT))
    except (ValueError, ProtocolError):
        parsed = None
    return api_error(response.status_code, parsed, response.headers)


def _object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ProtocolError("the gateway answered with invalid JSON") from e
    return _object_value(value)


def _object_value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError("the gateway answered with something other than a JSON object")
    return value


def _submission(body: SubmitResponse, sealed: SealedJob, replayed: bool | None) -> Submission:
    try:
        return Submission(
            job_id=_check_job_id(body["job_id"]),
            status=body["status"],
            estimated_wait=body["estimated_wait"],
            created_at=body["created_at"],
            replayed=replayed,
            sealed=sealed,
        )
    except (KeyError, ValueError) as e:
        raise ProtocolError("malformed submit answer") from e


def _until(deadline: float | None, job_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass ``chunks`` through until ``deadline`` (keep-alives arrive every 15 s)."""
    for chunk in chunks:
        if deadline is not None and time.monotonic() > deadline:
            raise WaitTimeout(f"job {job_id} did not finish in time")
        yield chunk


def _sse_events(chunks: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """Split a Server-Sent Events byte stream into ``(event, data)`` pairs.

    Comments and fields other than ``event`` and ``data`` are skipped; an event larger than
    64 KiB is a :class:`ProtocolError`.
    """
    buf = b""
    for chunk in chunks:
        buf = (buf + chunk).replace(b"\r\n", b"\n")
        while (end := buf.find(b"\n\n")) >= 0:
            block, buf = buf[:end], buf[end + 2 :]
            event, data = "message", []
            for line in block.decode("utf-8", "replace").split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if data:
                yield event, "\n".join(data)
        if len(buf) > _MAX_EVENT:
            raise ProtocolError("an event of the status stream is too large")
