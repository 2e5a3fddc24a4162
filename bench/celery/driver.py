"""Drive the Celery side of the benchmark: low-load latency, then throughput with N in flight.

Prints the same lines as `vesper bench` so the two can be compared side by side.
"""
import argparse
import os
import statistics
import threading
import time
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import tasks


def pct(xs, p):
    xs = sorted(xs)
    return xs[round((len(xs) - 1) * p)] * 1000.0 if xs else 0.0


def make_request(pool_pk, client_pk_hex):
    enc, ct = tasks.seal(pool_pk, b"x", b"vesper-job")
    return str(uuid.uuid4()), enc.hex(), ct.hex(), client_pk_hex


def one(req):
    t = time.perf_counter()
    r = tasks.run_job.apply_async(args=req)
    r.get(timeout=60)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--low-load-jobs", type=int, default=300)
    ap.add_argument("--init-keys", action="store_true")
    a = ap.parse_args()
    os.makedirs(tasks.KEY_DIR, exist_ok=True)
    if a.init_keys:
        with open(os.path.join(tasks.KEY_DIR, "pool.key"), "wb") as f:
            f.write(X25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                serialization.NoEncryption()))
        with open(os.path.join(tasks.KEY_DIR, "worker.key"), "wb") as f:
            f.write(Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                serialization.NoEncryption()))
        return
    pool, _ = tasks._load()
    pool_pk = pool.public_key()
    client = X25519PrivateKey.generate()
    client_pk_hex = client.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()

    lat = [one(make_request(pool_pk, client_pk_hex)) for _ in range(a.low_load_jobs)]
    print(f"low load ({len(lat)} sequential jobs): p50 {pct(lat, .5):.2f} ms, p99 {pct(lat, .99):.2f} ms")

    reqs = [make_request(pool_pk, client_pk_hex) for _ in range(a.jobs)]
    lock = threading.Lock()
    out = []

    def run():
        mine = []
        while True:
            with lock:
                if not reqs:
                    break
                req = reqs.pop()
            mine.append(one(req))
        with lock:
            out.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - start
    print(f"throughput ({len(out)} jobs, {a.concurrency} in flight): {len(out) / secs:.0f} jobs/s, "
          f"p50 {pct(out, .5):.2f} ms, p99 {pct(out, .99):.2f} ms")


if __name__ == "__main__":
    main()
