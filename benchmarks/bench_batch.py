"""The batch runner (headless/batch) against the direct client: jobs per minute on 1 and 2 local ComfyUI
servers, and what the engine (Celery on Redis, the runner's polling, the atomic output folder) costs
per job.

    .venv/bin/python benchmarks/bench_batch.py             # 16 jobs per leg
    .venv/bin/python benchmarks/bench_batch.py --jobs 32

Each job: the weight-free portrait workflow (workflows/api/portrait_85mm_f1.8_warm.json) on
its own 160x160 crop of example_inputs/astronaut.jpg, on CPU. The baseline, in this process: the same
jobs run one after another on server 0 by the client code alone (``headless/batch/job.execute``, i.e.
run_workflow.py's ``Client``), no queue. Against it the runner with one worker (server 0); the two legs
alternate in rounds (``--rounds``), so a change in the machine's load falls on both. Then the runner
with two workers (servers 0 and 1). Overhead per job: the runner's wall time per job on one server
minus the direct client's; the runner's wall time not spent inside a job (wall − Σ job time: queue,
dispatch, results, the runner noticing the last one; independent of how fast the server is at the
moment); and the time per job outside the server's own execution (its /history timestamps) in each
leg. The servers share this machine's cores: on a 2-core machine two CPU servers do not run twice as
fast (on GPUs each server has its own device).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from portraitos.headless.batch.job import execute
from portraitos.headless.batch.local import Redis, start_worker, stop_worker, wait_workers
from portraitos.headless.batch.manifest import read_manifest
from portraitos.headless.batch.run import run_batch
from portraitos.headless.server import ComfyServer

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"


def photos(folder: Path, n: int) -> list[Path]:
    src = Image.open(REPO / "example_inputs" / "astronaut.jpg")
    out = []
    for i in range(n):
        x, y = 40 + 17 * (i % 12), 10 + 29 * (i // 12 % 8)
        p = folder / f"selfie{i}.png"
        src.crop((x, y, x + 160, y + 160)).save(p)
        out.append(p)
    return out


def manifest(path: Path, prefix: str, pics: list[Path]) -> Path:
    lines = [
        json.dumps({"id": f"{prefix}{i}", "workflow": str(WORKFLOW), "images": {"1": str(p)}})
        for i, p in enumerate(pics)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def outside_server(out: Path) -> float:
    """Mean seconds per job spent outside the server's execution, from the job manifests."""
    ms = [json.loads(p.read_text()) for p in out.glob("*/manifest.json")]
    return statistics.mean(m["job_seconds"] - m["server_seconds"] for m in ms)


def in_jobs(out: Path) -> float:
    """Seconds the jobs themselves took (graph, upload, run, download), summed over the manifests."""
    return sum(json.loads(p.read_text())["job_seconds"] for p in out.glob("*/manifest.json"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=4, help="direct and 1-server legs alternate in this many rounds")
    args = ap.parse_args()
    n = args.jobs
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        pics = photos(work, n)
        redis = Redis(work / "redis").start()
        servers = [ComfyServer(work / f"server{i}").launch() for i in range(2)]
        workers = []
        try:
            for s in servers:
                s.wait_ready()
            warm = read_manifest(manifest(work / "warm.jsonl", "warm", pics[:2]))
            for s in servers:  # first runs load the prior and warm the caches
                for j in warm:
                    execute({**j, "id": f"{j['id']}-{s.port}"}, work / "warm", s.base)

            # the baseline (the client alone, one job after another on server 0) and the runner with one worker
            # on the same server, in alternating rounds, so a change in the machine's load hits both alike
            quiet = io.StringIO()
            workers.append(start_worker(servers[0].base, redis.url, work / "worker0.log", name="bench0@%h"))
            wait_workers(redis.url, 1)
            direct = one = 0.0
            chunk = max(1, n // args.rounds)
            for r, start in enumerate(range(0, n, chunk)):
                part = pics[start : start + chunk]
                jobs = read_manifest(manifest(work / f"direct{r}.jsonl", f"direct{r}-", part))
                t0 = time.perf_counter()
                for j in jobs:
                    execute(j, work / "direct", servers[0].base)
                direct += time.perf_counter() - t0
                m = manifest(work / f"one{r}.jsonl", f"one{r}-", part)
                t0 = time.perf_counter()
                assert run_batch(m, work / "one", redis.url, stream=quiet) == 0
                one += time.perf_counter() - t0

            workers.append(start_worker(servers[1].base, redis.url, work / "worker1.log", name="bench1@%h"))
            wait_workers(redis.url, 2)
            t0 = time.perf_counter()
            assert run_batch(manifest(work / "two.jsonl", "two", pics), work / "two", redis.url, stream=quiet) == 0
            two = time.perf_counter() - t0
        finally:
            for w in workers:
                stop_worker(w)
            for s in servers:
                s.stop()
            redis.stop()

        print(f"{n} jobs per leg, portrait workflow on 160x160 crops, CPU servers\n")
        print("| leg | wall | jobs/min | ÷ direct | per job outside the server's execution |")
        print("|---|---|---|---|---|")
        rows = [
            ("direct client, 1 server", direct, work / "direct"),
            ("batch runner, 1 server", one, work / "one"),
            ("batch runner, 2 servers", two, work / "two"),
        ]
        for name, wall, out in rows:
            jpm = 60 * n / wall
            print(
                f"| {name} | {wall:.1f} s | {jpm:.1f} | {jpm / (60 * n / direct):.2f} "
                f"| {1000 * outside_server(out):.0f} ms |"
            )
        print(f"\nengine overhead per job (runner on 1 server − direct client): {1000 * (one - direct) / n:.0f} ms")
        # robust to the machine's load changing between legs: the runner's wall time not spent inside a job
        # (queue, dispatch, result, the runner noticing the last one); the direct leg's is the loop's own
        for name, wall, out in rows[:2]:
            print(f"{name}: wall − Σ job time = {1000 * (wall - in_jobs(out)) / n:.0f} ms per job")
        print(f"2 servers ÷ 1 server (through the runner): {one / two:.2f}x the jobs per minute")


if __name__ == "__main__":
    main()
