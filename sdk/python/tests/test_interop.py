"""Cross-implementation: the SDK's CLI and the Rust CLI (`$VESPER_BIN`) on the same node.

(a) the SDK seals and submits, `vesper result` opens; (b) `vesper submit` seals and submits,
the SDK opens and verifies; (c) each side's `verify` accepts the other's saved result and
both refuse a tampered copy. Key files go both ways too.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, DevNode

TEXT = b"interop between two clients\nline two\n"
WC = b"2 6 37\n"


def sdk(dev_node: DevNode, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m vesper_sdk` against the node."""
    env = dev_node.cli_env()
    return subprocess.run(
        [sys.executable, "-m", "vesper_sdk", *args], env=env, cwd=dev_node.work, capture_output=True, timeout=120, check=check
    )


def common(dev_node: DevNode) -> list[str]:
    return ["--gateway", dev_node.url, "--api-key-file", str(dev_node.api_key_file)]


@pytest.fixture()
def files(tmp_path: Path, wordcount_wasm: bytes) -> dict[str, Path]:
    (tmp_path / "wordcount.wasm").write_bytes(wordcount_wasm)
    (tmp_path / "input.txt").write_bytes(TEXT)
    return {"wasm": tmp_path / "wordcount.wasm", "input": tmp_path / "input.txt", "dir": tmp_path}


def tamper(src: Path, dst: Path) -> None:
    body = json.loads(src.read_bytes())
    sealed = bytearray(base64.b64decode(body["encrypted_result"]))
    sealed[-1] ^= 1
    body["encrypted_result"] = base64.b64encode(bytes(sealed)).decode()
    dst.write_text(json.dumps(body))


@pytest.mark.parametrize("inline", [False, True], ids=["registry", "inline"])
def test_sdk_submits_rust_opens(dev_node: DevNode, files: dict[str, Path], inline: bool) -> None:
    key = files["dir"] / "sdk.key"
    sdk(dev_node, "keygen", "--out", str(key))
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    args = ["submit", *common(dev_node), "--identity", str(key), "--program", str(files["wasm"]), "--input", str(files["input"])]
    out = files["dir"] / "job.json"
    done = sdk(dev_node, *args, *(["--inline"] if inline else []), "--out", str(out))
    record = json.loads(done.stdout)
    assert record == json.loads(out.read_text())
    assert set(record) == {"job_id", "payload_digest", "program_id", "workload_type"}
    assert record["workload_type"] == "general" and len(record["payload_digest"]) == 64
    rust = dev_node.vesper("result", record["job_id"], *common(dev_node), "--identity", str(key))
    assert rust.stdout == WC, rust.stderr
    # The SDK opens it too, checking the receipt against every fact it printed.
    opened = sdk(
        dev_node,
        "open",
        *common(dev_node),
        "--identity",
        str(key),
        "--job",
        record["job_id"],
        "--payload-digest",
        record["payload_digest"],
        "--program-id",
        record["program_id"],
        "--workload-type",
        "general",
    )
    assert opened.stdout == WC
    wrong = sdk(dev_node, "open", *common(dev_node), "--identity", str(key), "--job", record["job_id"], "--payload-digest", "00" * 32, check=False)
    assert wrong.returncode == 2 and b"payload_digest" in wrong.stderr and wrong.stdout == b""


def test_rust_submits_sdk_opens(dev_node: DevNode, files: dict[str, Path]) -> None:
    key = files["dir"] / "rust.key"
    dev_node.vesper("keygen", "--out", str(key))
    done = dev_node.vesper(
        "submit", *common(dev_node), "--identity", str(key), "--program", str(EXAMPLES / "wordcount.wat"), "--input", str(files["input"])
    )
    job_id = done.stdout.decode().strip()
    # What the Rust CLI sealed, from its journal: the SDK checks the receipt against it.
    facts = json.loads((dev_node.work / "rust-state" / "jobs" / f"{job_id}.json").read_text())
    result = files["dir"] / "result.json"
    opened = sdk(
        dev_node,
        "open",
        *common(dev_node),
        "--identity",
        str(key),
        "--job",
        job_id,
        "--payload-digest",
        facts["payload_digest"],
        "--program-id",
        facts["program_id"],
        "--workload-type",
        facts["workload_type"],
        "--save",
        str(result),
    )
    assert opened.stdout == WC
    assert json.loads(result.read_bytes())["job_id"] == job_id
    # Without --payload-digest it still opens, and says what it did not check.
    loose = sdk(dev_node, "open", *common(dev_node), "--identity", str(key), "--job", job_id)
    assert loose.stdout == WC and b"not checked" in loose.stderr


def test_each_verify_accepts_the_others_result(dev_node: DevNode, files: dict[str, Path]) -> None:
    key = files["dir"] / "client.key"
    sdk(dev_node, "keygen", "--out", str(key))
    submit = ["--identity", str(key), "--program", str(files["wasm"]), "--input", str(files["input"])]
    record = json.loads(sdk(dev_node, "submit", *common(dev_node), *submit).stdout)
    job_id, digest = record["job_id"], record["payload_digest"]
    by_sdk, by_rust = files["dir"] / "sdk-result.json", files["dir"] / "rust-result.json"
    sdk(dev_node, "open", *common(dev_node), "--identity", str(key), "--job", job_id, "--payload-digest", digest, "--save", str(by_sdk))
    rust = dev_node.vesper("result", job_id, *common(dev_node), "--identity", str(key), "--save", str(by_rust))
    assert rust.stdout == WC

    # Rust verifies the SDK's file; the SDK verifies Rust's (also opening it with the key).
    assert dev_node.vesper("verify", str(by_sdk), *common(dev_node)).returncode == 0
    ok = sdk(dev_node, "verify", str(by_rust), *common(dev_node), "--identity", str(key), "--payload-digest", digest)
    assert ok.stdout == b"VERIFIED\n"
    assert sdk(dev_node, "verify", str(by_sdk), "--gateway", dev_node.url).stdout == b"VERIFIED\n"

    # A tampered copy is refused by both.
    for src in (by_sdk, by_rust):
        bad = files["dir"] / f"tampered-{src.name}"
        tamper(src, bad)
        assert dev_node.vesper("verify", str(bad), *common(dev_node), check=False).returncode != 0
        refused = sdk(dev_node, "verify", str(bad), *common(dev_node), check=False)
        assert refused.returncode == 1 and b"VERIFIED" not in refused.stdout
    # So is a receipt that does not match the submission, or a worker key nobody published.
    wrong = sdk(dev_node, "verify", str(by_rust), "--gateway", dev_node.url, "--payload-digest", "00" * 32, check=False)
    assert wrong.returncode == 1 and wrong.stdout == b""
    pinned = sdk(dev_node, "verify", str(by_rust), "--worker-key", "11" * 32, check=False)
    assert pinned.returncode == 1


def test_key_files_are_refused_when_others_can_read(dev_node: DevNode, files: dict[str, Path]) -> None:
    key = files["dir"] / "open.key"
    dev_node.vesper("keygen", "--out", str(key))
    os.chmod(key, 0o644)
    args = ["--identity", str(key), "--job", "00000000-0000-7000-8000-000000000000"]
    done = sdk(dev_node, "open", *common(dev_node), *args, check=False)
    assert done.returncode == 2 and b"chmod 600" in done.stderr
