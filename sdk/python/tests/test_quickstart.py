"""The README's quick start is examples/quickstart.py, and it runs against a dev node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import SDK_DIR, DevNode

QUICKSTART = SDK_DIR / "examples" / "quickstart.py"


def test_readme_block_is_the_example() -> None:
    readme = (SDK_DIR / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks[0] == QUICKSTART.read_text()


def test_quickstart_runs(dev_node: DevNode, wordcount_wasm: bytes, tmp_path: Path) -> None:
    wasm = tmp_path / "wordcount.wasm"
    wasm.write_bytes(wordcount_wasm)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESPER_")}
    env.update(VESPER_GATEWAY=dev_node.url, VESPER_API_KEY=dev_node.api_key)
    done = subprocess.run(
        [sys.executable, str(QUICKSTART), str(wasm)], env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"1 3 20\n"
    assert b": completed" in done.stderr and b"exit code 0, signed by worker" in done.stderr
