"""Key files, error mapping, the status-stream parser and answer limits, without a node."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from vesper_sdk import (
    ApiKeyAuth,
    AuthenticationError,
    Client,
    ClientKey,
    IdempotencyConflictError,
    KeyFileError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    UnprocessableError,
    read_api_key_file,
)
from vesper_sdk.client import _sse_events
from vesper_sdk.errors import api_error

JOB = "01a23051-499a-71a5-801a-4f9fbdb73b63"


def test_identity_file_round_trip_and_format(tmp_path: Path) -> None:
    key = ClientKey.generate()
    path = tmp_path / "sub" / "client.key"
    key.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = path.read_text()
    assert text.startswith("vesper-x25519-secret:") and text.endswith("\n") and len(text) == 21 + 64 + 1
    assert ClientKey.load(path).public_bytes == key.public_bytes
    with pytest.raises(KeyFileError):
        key.save(path)  # never overwrites unless asked
    key.save(path, overwrite=True)


def test_identity_file_refused_when_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "client.key"
    ClientKey.generate().save(path)
    for mode in (0o640, 0o604, 0o644):
        os.chmod(path, mode)
        with pytest.raises(KeyFileError, match="chmod 600"):
            ClientKey.load(path)


@pytest.mark.parametrize(
    "text",
    ["vesper-ed25519-secret:" + "00" * 32, "vesper-x25519-secret:" + "00" * 31, "vesper-x25519-secret:zz" + "00" * 31, "00" * 32],
)
def test_identity_file_of_the_wrong_kind(tmp_path: Path, text: str) -> None:
    path = tmp_path / "k"
    path.write_text(text + "\n")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        ClientKey.load(path)


def test_api_key_file_forms(tmp_path: Path) -> None:
    key = "vsk_" + "ab" * 32
    for text in (f"vesper-api-key:{key}\n", f"vesper-api-key:{key}", f"{key}\n", key):
        path = tmp_path / "api.key"
        path.write_text(text)
        os.chmod(path, 0o600)
        assert read_api_key_file(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError):
        read_api_key_file(path)
    path.write_text("vesper-api-key:vsk_ab cd\n")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        read_api_key_file(path)


def test_api_key_is_not_shown() -> None:
    auth = ApiKeyAuth("vsk_" + "ab" * 32)
    assert "ab" not in repr(auth)
    with pytest.raises(ValueError):
        ApiKeyAuth("vsk_x\r\nX-Evil: 1")


def test_error_mapping() -> None:
    headers = httpx.Headers({"x-request-id": "rid-1", "retry-after": "7"})
    e = api_error(401, {"error": {"code": "unauthorized", "message": "no"}}, headers)
    assert isinstance(e, AuthenticationError)
    assert (e.status, e.code, e.message, e.request_id) == (401, "unauthorized", "no", "rid-1")
    e = api_error(422, {"error": {"code": "idempotency_conflict", "message": "m"}, "job_id": JOB}, headers)
    assert isinstance(e, IdempotencyConflictError) and isinstance(e, UnprocessableError) and e.job_id == JOB
    e = api_error(429, {"error": {"code": "rate_limited", "message": "m"}}, headers)
    assert isinstance(e, RateLimitedError) and e.retry_after == 7
    e = api_error(502, None, httpx.Headers())
    assert isinstance(e, ServerError) and e.code == "unknown"


def test_sse_parser() -> None:
    stream = [
        b": keep-alive\n\nevent: status\ndata: {\"job_id\":\"a\",",
        b"\"status\":\"queued\"}\n\nevent: resync\r\n",
        b"data: {}\r\n\r\nid: 3\ndata: x\ndata: y\n\n",
    ]
    assert list(_sse_events(stream)) == [
        ("status", '{"job_id":"a","status":"queued"}'),
        ("resync", "{}"),
        ("message", "x\ny"),
    ]


def test_sse_parser_refuses_huge_events() -> None:
    with pytest.raises(ProtocolError):
        list(_sse_events([b"data: " + b"x" * 70_000]))


def _mock(handler) -> Client:  # type: ignore[no-untyped-def]
    return Client("http://gw", transport=httpx.MockTransport(handler), max_json_bytes=1000)


def test_answers_over_the_limit_are_refused() -> None:
    big = json.dumps({"status": "ok", "pad": "x" * 2000}).encode()
    with _mock(lambda r: httpx.Response(200, content=big)) as c, pytest.raises(ProtocolError):
        c.health()
    # Without a Content-Length (streamed), too.
    with _mock(lambda r: httpx.Response(200, content=iter([big[:600], big[600:]]))) as c, pytest.raises(ProtocolError):
        c.health()


def test_malformed_answers_are_protocol_errors() -> None:
    with _mock(lambda r: httpx.Response(200, content=b"[1,2]")) as c, pytest.raises(ProtocolError):
        c.health()
    with _mock(lambda r: httpx.Response(200, json={"job_id": "x", "status": "done"})) as c, pytest.raises(ProtocolError):
        c.status(JOB)


def test_job_ids_are_checked_before_use() -> None:
    with _mock(lambda r: httpx.Response(500)) as c:
        for bad in ("../keys", JOB.upper(), JOB + "?wait=1"):
            with pytest.raises(ValueError):
                c.status(bad)


def test_wait_falls_back_to_polling_when_the_stream_is_refused() -> None:
    calls: list[str] = []
    statuses = iter(["processing", "completed"])

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/api/events":
            return httpx.Response(503, json={"error": {"code": "too_many_streams", "message": "poll"}})
        return httpx.Response(200, json={"job_id": JOB, "status": next(statuses)})

    seen: list[tuple[str, str]] = []
    with _mock(handler) as c:
        final = c.wait(JOB, on_status=lambda j, s: seen.append((j, s)))
    assert final["status"] == "completed"
    assert seen == [(JOB, "processing"), (JOB, "completed")]
    assert calls[0] == "/api/events"
