"""The cross-implementation matrix: a job sealed by each client (the Rust CLI, the Python SDK,
the TypeScript SDK) is opened by each of them, and every receipt is verified by all three;
a tampered receipt is refused by all three. (The browser's column, sealing in Chromium and
verifying there, is in tests/browser/console.test.mjs, which uses the same three openers.)

Needs $VESPER_BIN (the vesper binary), $VESPER_TS_CLI (sdk/typescript/dist/cli.js) and a
Python with `vesper_sdk` installed (this interpreter). Missing ones fail, never skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wasmtime

REPO = Path(__file__).resolve().parents[2]
WAT = REPO / "examples" / "wordcount.wat"
CLIENTS = ("rust", "python", "ts")


def _need(var: str) -> str:
    v = os.environ.get(var)
    if not v or not Path(v).is_file():
        pytest.fail(f"${var} must name an existing file (got {v!r})", pytrace=False)
    return v


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    vesper = _need("VESPER_BIN")
    ts_cli = _need("VESPER_TS_CLI")
    work = tmp_path_factory.mktemp("matrix")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(work / "node.log", "wb")
    proc = subprocess.Popen(
        [vesper, "dev", "--data", str(work / "data"), "--listen", f"127.0.0.1:{port}", "--workers", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail((work / "node.log").read_text()[-2000:])
        time.sleep(0.1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESPER_")}
    env.update(HOME=str(work), VESPER_STATE_DIR=str(work / "rust-state"))
    yield {
        "vesper": vesper,
        "ts": ts_cli,
        "url": url,
        "key": str(work / "data" / "dev-api-key"),
        "work": work,
        "env": env,
    }
    proc.terminate()
    proc.wait(timeout=30)


def cli(node, client: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = {
        "rust": [node["vesper"]],
        "python": [sys.executable, "-m", "vesper_sdk"],
        "ts": ["node", node["ts"]],
    }[client]
    r = subprocess.run([*cmd, *args], env=node["env"], cwd=node["work"], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        pytest.fail(f"{client} {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}", pytrace=False)
    return r


def gw(node) -> list[str]:
    return ["--gateway", node["url"], "--api-key-file", node["key"]]


@pytest.fixture(scope="module")
def jobs(node):
    """One job sealed by each client: {sealer: (job_id, identity file, payload digest, expected stdout)}."""
    work = node["work"]
    wasm = work / "wordcount.wasm"
    wasm.write_bytes(wasmtime.wat2wasm(WAT.read_text()))
    out = {}
    for sealer in CLIENTS:
        ident = work / f"{sealer}.key"
        cli(node, sealer, "keygen", "--out", str(ident))
        text = f"sealed by {sealer} and opened by everyone\n"
        inp = work / f"{sealer}.in"
        inp.write_text(text)
        expected = f"1 7 {len(text)}\n"
        if sealer == "rust":
            r = cli(node, "rust", "submit", *gw(node), "--identity", str(ident), "--program", str(WAT), "--input", str(inp))
            job = r.stdout.strip()
            record = json.loads((work / "rust-state" / "jobs" / f"{job}.json").read_text())
            digest = record["payload_digest"]
        else:
            r = cli(node, sealer, "submit", *gw(node), "--identity", str(ident), "--program", str(wasm), "--input", str(inp))
            sub = json.loads(r.stdout)
            job, digest = sub["job_id"], sub["payload_digest"]
        assert len(digest) == 64
        out[sealer] = (job, ident, digest, expected)
    return out


@pytest.mark.parametrize("opener", CLIENTS)
@pytest.mark.parametrize("sealer", CLIENTS)
def test_each_opens_what_each_sealed(node, jobs, sealer, opener):
    job, ident, digest, expected = jobs[sealer]
    if opener == "rust":
        r = cli(node, "rust", "result", job, *gw(node), "--identity", str(ident))
    else:
        r = cli(node, opener, "open", *gw(node), "--identity", str(ident), "--job", job, "--payload-digest", digest)
    assert r.stdout == expected


@pytest.mark.parametrize("verifier", CLIENTS)
@pytest.mark.parametrize("sealer", CLIENTS)
def test_each_verifies_every_receipt_and_refuses_a_tampered_one(node, jobs, sealer, verifier):
    job, ident, digest, _ = jobs[sealer]
    saved = node["work"] / f"result-{sealer}.json"
    if not saved.exists():
        cli(node, "rust", "result", job, *gw(node), "--identity", str(ident), "--save", str(saved))
    body = json.loads(saved.read_text())
    assert body["job_id"] == job

    def verify(path: Path) -> subprocess.CompletedProcess[str]:
        if verifier == "rust":
            return cli(node, "rust", "verify", str(path), *gw(node), "--identity", str(ident), check=False)
        return cli(node, verifier, "verify", str(path), *gw(node), "--identity", str(ident), "--payload-digest", digest, check=False)

    r = verify(saved)
    assert r.returncode == 0 and "VERIFIED" in r.stdout, r.stdout + r.stderr
    for field, change in [
        ("fuel_used", lambda v: v + 1),
        ("worker_signature", lambda v: ("0" if v[0] != "0" else "1") + v[1:]),
        ("payload_digest", lambda v: ("0" if v[0] != "0" else "1") + v[1:]),
    ]:
        bad = json.loads(saved.read_text())
        bad["execution_proof"][field] = change(bad["execution_proof"][field])
        path = node["work"] / f"tampered-{sealer}-{verifier}-{field}.json"
        path.write_text(json.dumps(bad))
        r = verify(path)
        assert r.returncode != 0, f"{verifier} accepted a receipt with {field} changed: {r.stdout}"
        assert "VERIFIED" not in r.stdout.replace("NOT VERIFIED", "")
