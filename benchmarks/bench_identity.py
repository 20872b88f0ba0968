"""Loading a stored identity by name, against reading the same file's raw bytes in the same process.

.venv/bin/python benchmarks/bench_identity.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from skimage import data

from portraitos.engine.faces import analyse, load_pack
from portraitos.engine.identity import build_identity, identity_path, load_identity, save_identity
from portraitos.testing.tiny_face_models import build_pack

REPO = Path(__file__).resolve().parents[1]


def best_ms(fn, n=50) -> float:
    fn()
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_pack(root)
        pack = load_pack(root, "tinypack")
        photos = [data.astronaut(), np.ascontiguousarray(data.astronaut()[:, ::-1])]
        records = [analyse(pack, p)[0] for p in photos]
        path = save_identity(build_identity("bench", records, "tinypack", []), root / "identities", overwrite=False)
        load_ms = best_ms(lambda: load_identity(identity_path(root / "identities", "bench")))
        raw_ms = best_ms(lambda: path.read_bytes())
        t = time.perf_counter()
        analyse(pack, photos[0])
        create_ms = (time.perf_counter() - t) * 1000
        size_kib = path.stat().st_size / 1024
    print(f"identity file {size_kib:.0f} KiB (2 photos)")
    print(f"load by name: {load_ms:.2f} ms  (raw file read {raw_ms:.2f} ms; ratio {load_ms / raw_ms:.1f}x)")
    print(f"detect+align+embed one 512x512 photo with the tiny pack: {create_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
