"""The per-job work of a Vesper worker, as a Celery task (for the side-by-side benchmark).

Each job: open an HPKE-style envelope (X25519 key agreement + HKDF-SHA256 + AES-256-GCM),
run the computation (the benchmark's trivial program: nothing), seal the result to the
client's X25519 key the same way, and sign a receipt over the digests with Ed25519. The
`cryptography` package (OpenSSL) does the primitives, as `hpke`/`ed25519-dalek` do in Vesper.
"""
import hashlib
import os

from celery import Celery
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BROKER = os.environ.get("CELERY_BROKER", "redis://127.0.0.1:6379/0")
app = Celery("vesper_bench", broker=BROKER, backend=BROKER)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,          # like a lease: a job is acknowledged after it is done
    worker_prefetch_multiplier=4,
    result_expires=3600,
)

# The pool's key and the worker's signing key, shared by the driver through files.
KEY_DIR = os.environ.get("BENCH_KEYS", "/tmp/vesper-celery-keys")


def _load():
    with open(os.path.join(KEY_DIR, "pool.key"), "rb") as f:
        pool = X25519PrivateKey.from_private_bytes(f.read())
    with open(os.path.join(KEY_DIR, "worker.key"), "rb") as f:
        signer = Ed25519PrivateKey.from_private_bytes(f.read())
    return pool, signer


POOL, SIGNER = (None, None)


def kdf(shared: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def seal(recipient: X25519PublicKey, plaintext: bytes, info: bytes):
    eph = X25519PrivateKey.generate()
    key = kdf(eph.exchange(recipient), info)
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, info)
    enc = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return enc, nonce + ct


def open_(sk: X25519PrivateKey, enc: bytes, ct: bytes, info: bytes) -> bytes:
    key = kdf(sk.exchange(X25519PublicKey.from_public_bytes(enc)), info)
    return AESGCM(key).decrypt(ct[:12], ct[12:], info)


@app.task(name="vesper_bench.run_job")
def run_job(job_id: str, enc_hex: str, ct_hex: str, client_pk_hex: str):
    global POOL, SIGNER
    if POOL is None:
        POOL, SIGNER = _load()
    enc, ct = bytes.fromhex(enc_hex), bytes.fromhex(ct_hex)
    plaintext = open_(POOL, enc, ct, b"vesper-job")
    output = b""  # the trivial program
    client = X25519PublicKey.from_public_bytes(bytes.fromhex(client_pk_hex))
    renc, rct = seal(client, output, b"vesper-result")
    receipt = b"|".join([
        job_id.encode(),
        hashlib.sha256(enc + ct).digest(),
        hashlib.sha256(renc + rct).digest(),
        hashlib.sha256(plaintext).digest(),
    ])
    sig = SIGNER.sign(receipt)
    return {"enc": renc.hex(), "ct": rct.hex(), "sig": sig.hex()}
