"""A small command line, mainly for cross-implementation tests with the Rust CLI.

``python -m vesper_sdk submit|open|verify|keygen``; ``--help`` on each. Exit status: 0 on
success (``open`` exits with the program's own exit code), 1 when ``verify`` finds a result
not genuine, 2 on any other error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .auth import ApiKeyAuth
from .client import Client
from .errors import VerificationError, VesperError
from .keyfile import ClientKey, read_api_key_file
from .receipt import verify_result

__all__ = ["main"]

EXIT_NOT_VERIFIED = 1
EXIT_ERROR = 2


def _gateway_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    env = os.environ.get("VESPER_GATEWAY") or None
    p.add_argument(
        "--gateway",
        default=env,
        required=required and env is None,
        help="gateway URL (default: $VESPER_GATEWAY)",
    )
    p.add_argument(
        "--api-key-file",
        type=Path,
        help="file holding the API key, `vesper-api-key:vsk_...` (mode 0600); default: $VESPER_API_KEY",
    )


def _facts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--payload-digest", help="hex payload_digest printed by `submit`: the receipt must state it")
    p.add_argument("--program-id", help="hex program_id the receipt must state")
    p.add_argument("--workload-type", help="workload type the receipt must state")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vesper_sdk", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("submit", help="seal and submit a job; print its JSON record, do not wait")
    _gateway_args(p)
    p.add_argument("--identity", type=Path, required=True, help="client key file (`keygen`; the Rust CLI's format)")
    p.add_argument("--program", type=Path, required=True, help="WebAssembly binary module (.wasm)")
    p.add_argument("--input", type=Path, required=True, help="the program's stdin ('-' for this process's stdin)")
    p.add_argument("--inline", action="store_true", help="send the module inside the ciphertext instead of registering it")
    p.add_argument("--workload-type", default="general", choices=["general", "ai_inference", "pos_validation", "zk_proof"])
    p.add_argument("--priority", type=int, help="1 (low) to 10 (high)")
    p.add_argument("--idempotency-key", help="Idempotency-Key header")
    p.add_argument("--out", type=Path, help="also write the JSON record here")

    p = sub.add_parser(
        "open",
        help="wait for a job, verify its receipt, open the result and write the program's stdout",
        description="Wait for a job, verify its receipt and open its result; the program's stdout "
        "goes to stdout, its stderr to stderr, and its exit code is this command's. Without "
        "--payload-digest the result is opened with the receipt's own payload_digest: that checks "
        "less (it does not show the receipt is about the payload you sealed), so pass the digest "
        "`submit` printed.",
    )
    _gateway_args(p)
    p.add_argument("--identity", type=Path, required=True, help="client key file")
    p.add_argument("--job", required=True, help="job id")
    _facts_args(p)
    p.add_argument("--save", type=Path, help="also save the raw result JSON (for `verify`)")
    p.add_argument("--timeout", type=float, help="give up after this many seconds")

    p = sub.add_parser(
        "verify",
        help="verify a saved result; print VERIFIED and exit 0 only if genuine",
        description="Verify a saved result (the JSON body of GET /api/result/{job_id}): receipt "
        "signature, result digest and worker key; with --identity also open it and check the "
        "result hash; with --payload-digest/--program-id/--workload-type also that the receipt "
        "states them. Prints VERIFIED and exits 0 only if every check passes.",
    )
    p.add_argument("file", type=Path, help="saved result JSON")
    _gateway_args(p, required=False)
    p.add_argument("--worker-key", action="append", default=[], help="trust this worker key (hex) instead of GET /api/keys (repeatable)")
    p.add_argument("--identity", type=Path, help="client key file: also open the result and check result_hash")
    _facts_args(p)

    p = sub.add_parser("keygen", help="create a client X25519 key file (mode 0600)")
    p.add_argument("--out", type=Path, required=True, help="where to write the secret key")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    return parser


def _worker_key(text: str) -> bytes:
    if len(text) != 64 or text.strip("0123456789abcdef"):
        raise VesperError("--worker-key must be 64 lowercase hex digits")
    return bytes.fromhex(text)


def _client(args: argparse.Namespace) -> Client:
    if not args.gateway:
        raise VesperError("give --gateway (or set VESPER_GATEWAY)")
    if args.api_key_file is not None:
        key: str | None = read_api_key_file(args.api_key_file)
    else:
        key = os.environ.get("VESPER_API_KEY") or None
    return Client(args.gateway, ApiKeyAuth(key) if key else None)


def _expected(args: argparse.Namespace) -> dict[str, str]:
    given = {
        "payload_digest": args.payload_digest,
        "program_id": args.program_id,
        "workload_type": args.workload_type,
    }
    return {k: v for k, v in given.items() if v is not None}


def _submit(args: argparse.Namespace) -> int:
    identity = ClientKey.load(args.identity)
    module = args.program.read_bytes()
    if not module.startswith(b"\0asm"):
        raise VesperError(f"{args.program} is not a WebAssembly binary module (assemble .wat first)")
    data = sys.stdin.buffer.read() if str(args.input) == "-" else args.input.read_bytes()
    with _client(args) as client:
        options: dict[str, Any] = {"workload_type": args.workload_type, "priority": args.priority}
        if args.inline:
            options["inline_module"] = module
        else:
            options["program"] = client.upload_program(module)
        sub = client.submit(identity, data, idempotency_key=args.idempotency_key, **options)
    record = {"job_id": sub.job_id, **sub.expected}
    text = json.dumps(record, indent=2) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    sys.stdout.write(text)
    return 0


def _open(args: argparse.Namespace) -> int:
    identity = ClientKey.load(args.identity)
    with _client(args) as client:
        result = client.result(
            args.job,
            identity,
            expected=_expected(args),
            on_status=lambda job, status: print(f"job {job}: {status}", file=sys.stderr),
            timeout=args.timeout,
        )
    if args.save is not None:
        result.save(args.save)
    r = result.receipt
    print(
        f"receipt verified: worker {r.worker_id} ran program {r.program_id} in "
        f"{r.execution_time_ms} ms ({r.fuel_used} fuel)",
        file=sys.stderr,
    )
    if result.unchecked:
        print(f"not checked against your submission: {', '.join(result.unchecked)}", file=sys.stderr)
    sys.stdout.buffer.write(result.stdout)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(result.stderr)
    return result.exit_code if 0 <= result.exit_code <= 255 else 1


def _verify(args: argparse.Namespace) -> int:
    try:
        body = json.loads(args.file.read_bytes())
    except ValueError as e:
        print(f"NOT VERIFIED: not a result body: {e}", file=sys.stderr)
        return EXIT_NOT_VERIFIED
    identity = ClientKey.load(args.identity) if args.identity is not None else None
    secret = identity.secret if identity is not None else None
    try:
        if args.worker_key:  # pinned: the gateway is not asked
            pinned = [_worker_key(k) for k in args.worker_key]
            v = verify_result(body, pinned, client_secret=secret, expected=_expected(args))
        else:
            with _client(args) as client:
                v = client.verify(body, identity=identity, expected=_expected(args))
    except VerificationError as e:
        print(f"NOT VERIFIED: {e}", file=sys.stderr)
        return EXIT_NOT_VERIFIED
    print("VERIFIED")
    r = v.receipt
    print(f"job {r.job_id} ran program {r.program_id} on worker {r.worker_id} ({r.worker_pubkey})", file=sys.stderr)
    if v.plaintext is not None:
        print("result hash matches the decrypted result", file=sys.stderr)
    if v.unchecked:
        print(f"not checked against a submission: {', '.join(v.unchecked)}", file=sys.stderr)
    return 0


def _keygen(args: argparse.Namespace) -> int:
    key = ClientKey.generate()
    key.save(args.out, overwrite=args.force)
    print(f"wrote {args.out} (mode 0600)")
    print(f"public key: {key.public_base64}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    command = {"submit": _submit, "open": _open, "verify": _verify, "keygen": _keygen}[args.command]
    try:
        return command(args)
    except (VesperError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
