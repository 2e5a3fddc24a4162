"""Quick start: run a WebAssembly program on Vesper privately and check its signed receipt."""

import os
import sys
from pathlib import Path

from vesper_sdk import ApiKeyAuth, Client, ClientKey

gateway = os.environ["VESPER_GATEWAY"]  # e.g. http://127.0.0.1:8080
api_key = os.environ["VESPER_API_KEY"]  # vsk_...: `cut -d: -f2- .vesper/dev-api-key`
module = Path(sys.argv[1] if len(sys.argv) > 1 else "wordcount.wasm").read_bytes()

identity = ClientKey.generate()  # or ClientKey.load("client.key"): results are sealed to it
with Client(gateway, ApiKeyAuth(api_key)) as client:
    program = client.upload_program(module)  # POST /api/programs; returns the program_id
    job = client.submit(identity, b"hello private world\n", program=program)
    result = client.result(  # waits, verifies the receipt against the submission, decrypts
        job.job_id,
        identity,
        expected=job.expected,
        on_status=lambda job_id, status: print(f"job {job_id}: {status}", file=sys.stderr),
    )

print(result.stdout.decode(), end="")
print(f"exit code {result.exit_code}, signed by worker {result.receipt.worker_id}", file=sys.stderr)
