"""Against a real `vesper dev` node: keys, submit/wait/open, batch, idempotency, typed errors,
status callbacks, and wallet signatures (Ed25519 and EIP-191)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time

import httpx
import pytest
from conftest import DevNode

from vesper_sdk import (
    ApiKeyAuth,
    AuthenticationError,
    BadRequestError,
    Client,
    ClientKey,
    Ed25519Wallet,
    Eip191Wallet,
    IdempotencyConflictError,
    JobFailedError,
    NotFoundError,
    UnprocessableError,
    VerificationError,
    WalletAuth,
    key_id,
)
from vesper_sdk.errors import api_error

TEXT = b"the quick brown fox\njumps over\nthe lazy dog\n"
WC = b"3 9 44\n"


def test_keys_are_signed_and_named(dev_node: DevNode, client: Client) -> None:
    keys = client.keys()
    assert keys.pool_keys and keys.worker_keys
    pool = keys.current_pool_key
    assert pool.key_id == key_id(pool.public_key)
    assert len(keys.gateway_key) == 32
    # Pinning the key the gateway signs with works; pinning another does not.
    with Client(dev_node.url, gateway_key=keys.gateway_key) as pinned:
        assert pinned.keys().gateway_key == keys.gateway_key
    with Client(dev_node.url, gateway_key=bytes(32)) as pinned, pytest.raises(VerificationError):
        pinned.keys()


def test_submit_wait_open_registry_program(client: Client, identity: ClientKey, wordcount_wasm: bytes) -> None:
    program = client.upload_program(wordcount_wasm)
    assert program == hashlib.sha256(wordcount_wasm).hexdigest()
    job = client.submit(identity, TEXT, program=program)
    seen: list[tuple[str, str]] = []
    result = client.result(job.job_id, identity, expected=job.expected, on_status=lambda j, s: seen.append((j, s)))
    assert (result.exit_code, result.stdout, result.stderr) == (0, WC, b"")
    assert result.unchecked == ()
    r = result.receipt
    assert (r.job_id, r.program_id, r.workload_type) == (job.job_id, program, "general")
    assert r.payload_digest == job.sealed.payload_digest.hex()
    assert seen and seen[-1] == (job.job_id, "completed")
    assert all(j == job.job_id for j, _ in seen)


def test_submit_wait_open_inline_program(client: Client, identity: ClientKey, sha256_wasm: bytes) -> None:
    data = b"secret input " * 1000
    result = client.run(identity, data, inline_module=sha256_wasm)
    assert result.stdout == hashlib.sha256(data).hexdigest().encode() + b"\n"
    assert result.receipt.program_id == hashlib.sha256(sha256_wasm).hexdigest()
    assert result.exit_code == 0


def test_progress_callback_follows_a_running_job(client: Client, identity: ClientKey, sha256_wasm: bytes) -> None:
    # A larger input keeps the job busy long enough to see it before it completes.
    job = client.submit(identity, bytes(4 << 20), inline_module=sha256_wasm)
    seen: list[str] = []
    final = client.wait(job.job_id, on_status=lambda j, s: seen.append(s))
    assert final["status"] == "completed" and seen[-1] == "completed"
    assert all(a != b for a, b in itertools.pairwise(seen))  # only changes are reported
    order = ["queued", "processing", "completed"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    # Polling sees the same end.
    polled: list[str] = []
    assert client.wait(job.job_id, on_status=lambda j, s: polled.append(s), use_events=False)["status"] == "completed"
    assert polled == ["completed"]


def test_batch_submit(client: Client, identity: ClientKey, wordcount_wasm: bytes, sha256_wasm: bytes) -> None:
    program = client.upload_program(wordcount_wasm)
    inputs = [b"a b c\n", b"one\ntwo\n", b""]
    sealed = [client.seal(identity, i, program=program) for i in inputs]
    sealed.append(client.seal(identity, b"abc", inline_module=sha256_wasm))
    jobs = client.submit_batch(sealed, idempotency_key="batch-1")
    assert len({j.job_id for j in jobs}) == 4
    outs = [client.result(j.job_id, identity, expected=j.expected).stdout for j in jobs]
    assert outs == [b"1 3 6\n", b"2 2 8\n", b"0 0 0\n", hashlib.sha256(b"abc").hexdigest().encode() + b"\n"]
    again = client.submit_batch(sealed, idempotency_key="batch-1")
    assert [j.job_id for j in again] == [j.job_id for j in jobs]


def test_idempotency_key_returns_the_same_job(client: Client, identity: ClientKey, wordcount_wasm: bytes) -> None:
    program = client.upload_program(wordcount_wasm)
    key = f"idem-{time.time_ns()}"
    sealed = client.seal(identity, TEXT, program=program)
    first = client.submit_sealed(sealed, idempotency_key=key)
    second = client.submit_sealed(sealed, idempotency_key=key)
    assert (first.replayed, second.replayed) == (False, True)
    assert second.job_id == first.job_id
    # A new seal is another request: the key is taken.
    with pytest.raises(IdempotencyConflictError) as e:
        client.submit(identity, TEXT, program=program, idempotency_key=key)
    assert (e.value.status, e.value.code, e.value.job_id) == (422, "idempotency_conflict", first.job_id)
    assert client.result(first.job_id, identity, expected=first.expected).stdout == WC


def test_typed_errors(dev_node: DevNode, client: Client, identity: ClientKey, wordcount_wasm: bytes) -> None:
    program = client.upload_program(wordcount_wasm)
    sealed = client.seal(identity, TEXT, program=program)
    bad = dataclasses.replace(sealed, request={**sealed.request, "key_id": "0000000000000000"})
    with pytest.raises(UnprocessableError) as e:
        client.submit_sealed(bad)
    assert (e.value.status, e.value.code) == (422, "unknown_key_id")
    assert e.value.request_id and e.value.message
    bad = dataclasses.replace(sealed, request={**sealed.request, "program_id": "ab" * 32})
    with pytest.raises(UnprocessableError, match="program_not_found"):
        client.submit_sealed(bad)
    bad = dataclasses.replace(sealed, request={**sealed.request, "encrypted_key": "AAAA"})
    with pytest.raises(BadRequestError) as e2:
        client.submit_sealed(bad)
    assert e2.value.code == "invalid_envelope"
    with pytest.raises(NotFoundError) as e3:
        client.status("00000000-0000-7000-8000-000000000000")
    assert e3.value.code == "job_not_found"
    with Client(dev_node.url, ApiKeyAuth("vsk_" + "00" * 32)) as wrong, pytest.raises(AuthenticationError) as e4:
        wrong.submit_sealed(sealed)
    assert (e4.value.status, e4.value.code) == (401, "unauthorized")


def test_changed_metadata_fails_the_job(client: Client, identity: ClientKey, wordcount_wasm: bytes) -> None:
    # The metadata is the AAD: the worker cannot open a payload whose workload type changed.
    program = client.upload_program(wordcount_wasm)
    sealed = client.seal(identity, TEXT, program=program)
    moved = dataclasses.replace(sealed, request={**sealed.request, "workload_type": "ai_inference"})
    job = client.submit_sealed(moved)
    with pytest.raises(JobFailedError) as e:
        client.result(job.job_id, identity)
    assert (e.value.status, e.value.code) == ("failed", "decrypt_failed")


def _map_wallet(dev_node: DevNode, wallet_id: str) -> None:
    dev_node.vesper("key", "--data", str(dev_node.data), "add-wallet", "--tenant", dev_node.tenant, wallet_id)


@pytest.mark.parametrize("make", [Ed25519Wallet.generate, Eip191Wallet.generate], ids=["ed25519", "eip191"])
def test_wallet_signatures(dev_node: DevNode, identity: ClientKey, wordcount_wasm: bytes, make) -> None:  # type: ignore[no-untyped-def]
    wallet = make()
    with Client(dev_node.url, WalletAuth(wallet)) as c:
        with pytest.raises(AuthenticationError) as e:
            c.upload_program(wordcount_wasm)
        assert e.value.code == "unknown_wallet"
        _map_wallet(dev_node, wallet.wallet_id)
        program = c.upload_program(wordcount_wasm)
        job = c.submit(identity, TEXT, program=program)
        assert c.result(job.job_id, identity, expected=job.expected).stdout == WC
        jobs = c.submit_batch([c.seal(identity, b"x y\n", program=program)])
        assert c.result(jobs[0].job_id, identity).stdout == b"1 2 4\n"
    # A stale timestamp and a replayed nonce are refused.
    with Client(dev_node.url, WalletAuth(wallet, clock=lambda: time.time() - 1000)) as stale:
        with pytest.raises(AuthenticationError) as e:
            stale.status(job.job_id)
        assert e.value.code == "stale_request"
    path = f"/api/status/{job.job_id}"
    headers = WalletAuth(wallet).headers("GET", path, b"")
    assert httpx.get(dev_node.url + path, headers=headers).status_code == 200
    again = httpx.get(dev_node.url + path, headers=headers)
    assert api_error(again.status_code, again.json(), again.headers).code == "replayed_nonce"
    # The signature covers the path: the same headers on another path do not verify.
    headers = WalletAuth(wallet).headers("GET", path, b"")
    other = httpx.get(dev_node.url + "/api/jobs", headers=headers)
    assert api_error(other.status_code, other.json(), other.headers).code == "signature_invalid"
