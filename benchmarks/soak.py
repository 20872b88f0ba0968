"""Soak: many prompts of the shipped weight-free workflow through a live ComfyUI with this pack, valid ones
with random lens, light and focus, about 10 % hostile ones, and a SIGKILL of the server in the middle
(then a fresh server on the same folders, and the prompt that was running sent again, as a client would).

    .venv/bin/python benchmarks/soak.py [--prompts 200] [--hostile 0.1] [--seed 0]

Reports: valid prompts whose image was written (must be all), what each kind of hostile prompt got
(refused with 400; the refused node's outputs dropped while the others ran, as ComfyUI does; run with a
warning), the server's resident memory (RSS) after each prompt (first, last, largest, and growth
per 100 prompts on each side of the kill), and whether a stored identity changed (it must not: no prompt
here completes a create or update). Exit status 1 when a valid image is missing or the identity changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from portraitos.engine import presets
from portraitos.headless.server import ComfyServer, PromptRejected

REPO = Path(__file__).resolve().parents[1]

WORKFLOW = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"


def valid_prompt(rng: random.Random, i: int) -> dict:
    g = json.loads(WORKFLOW.read_text())
    focal = rng.choice([50.0, 85.0, 105.0, 135.0])
    g["2"]["inputs"]["focal_length_mm"] = focal
    g["4"]["inputs"].update(
        focal_length_mm=focal,
        f_number=round(rng.uniform(1.2, 4.0), 2),
        aperture_blades=rng.choice([0, 6, 9]),
        focus_point="" if rng.random() < 0.5 else f"{rng.uniform(0.1, 0.9):.3f},{rng.uniform(0.1, 0.9):.3f}",
    )
    g["3"]["inputs"]["preset"] = rng.choice(list(presets.LIGHTING))
    g["5"]["inputs"]["filename_prefix"] = f"soak/p{i:04d}"
    return g


def hostile_prompt(rng: random.Random, i: int) -> tuple[str, dict]:
    g = valid_prompt(rng, i)
    kind = rng.choice(["nan f_number", "bad preset", "traversal image", "traversal model", "nan pixels", "update"])
    if kind == "nan f_number":
        g["4"]["inputs"]["f_number"] = math.nan
    elif kind == "bad preset":
        g["3"]["inputs"]["preset"] = "disco"
    elif kind == "traversal image":
        g["1"]["inputs"]["image"] = "../../../etc/passwd"
    elif kind == "traversal model":
        g["2"]["inputs"]["model"] = "depth/../../x"
    elif kind == "nan pixels":
        # a picture of NaN (as an fp16 VAE decode makes them): must run, with a warning
        g["20"] = {"class_type": "SolidMask", "inputs": {"value": math.nan, "width": 256, "height": 256}}
        g["21"] = {"class_type": "MaskToImage", "inputs": {"mask": ["20", 0]}}
        g["2"]["inputs"]["image"] = ["21", 0]
        g["3"]["inputs"]["image"] = ["21", 0]
    else:  # an update of the stored identity that cannot complete (no face model installed)
        g["30"] = {
            "class_type": "IdentityLoader",
            "inputs": {
                "mode": "update",
                "name": "soakid",
                "stored_identity": "soakid",
                "face_model": "antelopev2",
                "provider": "CPU",
                "face_index": -1,
                "image": ["1", 0],
            },
        }
        g["31"] = {"class_type": "PreviewImage", "inputs": {"images": ["30", 2]}}  # so that it runs
    return kind, g


def rss_mb(server: ComfyServer) -> float:
    import psutil

    return psutil.Process(server.proc.pid).memory_info().rss / 2**20


def write_identity(folder: Path) -> Path:
    """A stored identity for the hostile updates to aim at."""
    import numpy as np

    from portraitos.engine.identity import build_identity, save_identity

    rng = np.random.default_rng(0)
    record = {
        "embedding": rng.standard_normal(512).astype(np.float32),
        "kps": np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32),
        "bbox": np.array([10, 10, 90, 110], np.float32),
        "pose": None,
        "det_score": 0.9,
        "crop_112": np.zeros((112, 112, 3), np.uint8),
        "crop_224": np.zeros((224, 224, 3), np.uint8),
        "sha256": "0" * 64,
    }
    return save_identity(build_identity("soakid", [record], "antelopev2", []), folder, overwrite=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--hostile", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="portraitos-soak-"))
    identities = work / "models" / "identities"
    identities.mkdir(parents=True)
    stored = write_identity(identities)
    before = hashlib.sha256(stored.read_bytes()).hexdigest()
    server = ComfyServer(work, model_folders={"identities": identities}).start()
    kill_at = args.prompts // 2
    valid, hostile, rss, restarts = [], {}, [[], []], 0
    started = time.time()
    try:
        for i in range(args.prompts):
            is_hostile = rng.random() < args.hostile
            kind, graph = hostile_prompt(rng, i) if is_hostile else ("valid", valid_prompt(rng, i))
            if i == kill_at:
                # SIGKILL while this prompt runs, then a new server on the same folders; the client sends it again
                timer = threading.Timer(0.8, server.proc.kill)
                timer.start()
                try:
                    server.run_prompt(graph, timeout=60)
                except Exception:
                    pass
                timer.join()
                server.proc.wait(timeout=30)
                server = ComfyServer(work, model_folders={"identities": identities}).start()
                restarts += 1
            try:
                hist, _ = server.run_prompt(graph)
                outcome = hist["status"]["status_str"]
                if outcome == "success" and "5" not in hist["outputs"]:
                    # ComfyUI runs the outputs that validate and drops those that depend on a refused node
                    outcome = "refused node dropped, other outputs ran"
                elif outcome == "success":
                    outcome = "portrait saved"
                warned = any("portraitos" in o and o["portraitos"][0]["warnings"] for o in hist["outputs"].values())
            except PromptRejected as e:
                outcome, warned = f"refused {e.status}", False
            if is_hostile:
                hostile.setdefault(kind, []).append(outcome + (" + warning" if warned else ""))
            if kind in ("valid", "nan pixels"):
                valid.append((i, outcome))  # these must save their portrait
            rss[restarts].append(rss_mb(server))
            if (i + 1) % 25 == 0:
                print(f"{i + 1}/{args.prompts} prompts, {time.time() - started:.0f} s, RSS {rss[restarts][-1]:.0f} MB")
    finally:
        server.stop()
    outputs = {p.name.split("_")[0] for p in (work / "output" / "soak").glob("p*.png")}
    missing = [i for i, _ in valid if f"p{i:04d}" not in outputs]
    after = hashlib.sha256(stored.read_bytes()).hexdigest()

    def growth(series: list[float]) -> str:
        if len(series) < 12:
            return "n/a"
        settled = series[10:]  # after warm-up (models, caches)
        per_100 = (settled[-1] - settled[0]) / max(1, len(settled) - 1) * 100
        return (
            f"first {series[0]:.0f}, after warm-up {settled[0]:.0f}, last {settled[-1]:.0f}, "
            f"max {max(series):.0f} MB; {per_100:+.1f} MB per 100 prompts"
        )

    report = {
        "prompts": args.prompts,
        "seconds": round(time.time() - started, 1),
        "valid prompts": len(valid),
        "valid images written": len(valid) - len(missing),
        "missing": missing,
        "hostile": {k: sorted(set(v)) for k, v in hostile.items()},
        "hostile count": sum(len(v) for v in hostile.values()),
        "rss before the kill": growth(rss[0]),
        "rss after the restart": growth(rss[1]),
        "stored identity unchanged": before == after,
        "previous version written": (identities / "soakid.safetensors.previous").exists(),
    }
    print(json.dumps(report, indent=1))
    return 0 if not missing and before == after else 1


if __name__ == "__main__":
    sys.exit(main())
