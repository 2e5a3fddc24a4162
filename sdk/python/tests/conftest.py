"""Fixtures: a real `vesper dev` node from $VESPER_BIN, example modules, keys and clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import wasmtime

from vesper_sdk import ApiKeyAuth, Client, ClientKey, read_api_key_file

SDK_DIR = Path(__file__).resolve().parents[1]
REPO = SDK_DIR.parents[1]
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class DevNode:
    """A running `vesper dev` node."""

    bin: str
    url: str
    data: Path
    api_key_file: Path
    api_key: str
    tenant: str
    work: Path

    def cli_env(self) -> dict[str, str]:
        """Environment for the Rust CLI: nothing from the caller's Vesper settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VESPER_")}
        env.update(HOME=str(self.work), VESPER_STATE_DIR=str(self.work / "rust-state"), NO_COLOR="1")
        return env

    def vesper(self, *args: str, check: bool = True, input_: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run the Rust CLI in the node's work directory."""
        return subprocess.run(
            [self.bin, *args], cwd=self.work, env=self.cli_env(), capture_output=True, timeout=120, check=check, input=input_
        )


def _vesper_bin() -> str:
    path = os.environ.get("VESPER_BIN")
    if not path:
        pytest.fail("VESPER_BIN is not set: point it at a built `vesper` binary", pytrace=False)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"VESPER_BIN={path} is not an executable file", pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def dev_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """`$VESPER_BIN dev --data <tmp> --listen 127.0.0.1:<free port> --workers 1`, until the end."""
    vesper = _vesper_bin()
    work = tmp_path_factory.mktemp("vesper-dev")
    data = work / "data"
    port = _free_port()
    log = open(work / "dev.log", "wb")  # noqa: SIM115 (open for the node's whole life)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESPER_")}
    env.update(HOME=str(work), VESPER_HOME=str(work / "home"))
    proc = subprocess.Popen(
        [vesper, "dev", "--data", str(data), "--listen", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vesper dev exited with {proc.returncode}:\n{(work / 'dev.log').read_text()}", pytrace=False)
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vesper dev did not answer /health within 60 s", pytrace=False)
            time.sleep(0.2)
        api_key_file = data / "dev-api-key"
        listing = subprocess.run(
            [vesper, "tenant", "--data", str(data), "list"], cwd=work, env=env, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        tenants = [line.split()[1] for line in listing[1:] if line.strip()]
        assert len(tenants) == 1, listing
        yield DevNode(vesper, url, data, api_key_file, read_api_key_file(api_key_file), tenants[0], work)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def wordcount_wasm() -> bytes:
    return bytes(wasmtime.wat2wasm((EXAMPLES / "wordcount.wat").read_text()))


@pytest.fixture(scope="session")
def sha256_wasm() -> bytes:
    return bytes(wasmtime.wat2wasm((EXAMPLES / "sha256.wat").read_text()))


@pytest.fixture()
def client(dev_node: DevNode) -> Iterator[Client]:
    with Client(dev_node.url, ApiKeyAuth(dev_node.api_key)) as c:
        yield c


@pytest.fixture(scope="session")
def identity_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A client key file written by the SDK (mode 0600, the Rust CLI's format)."""
    path = tmp_path_factory.mktemp("identity") / "client.key"
    ClientKey.generate().save(path)
    return path


@pytest.fixture(scope="session")
def identity(identity_file: Path) -> ClientKey:
    return ClientKey.load(identity_file)
