"""headless/batch: a manifest over two live ComfyUI servers, a real redis-server and Celery workers.

Each job is the weight-free portrait workflow on a 160x160 crop (1-3 s on CPU). Checked: every job done
once, a server killed under a job (its job finishes on the other), the runner killed and started again
(nothing lost, nothing run twice: each job's upload appears once in the servers' /history), bad inputs
reported with the server's message while the rest finish.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from portraitos.headless.batch.local import Redis, start_worker, stop_worker, wait_workers
from portraitos.headless.server import ComfyServer

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"
PORTRAIT = "portrait_85mm_f1.8_warm"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Redis, two ComfyUI servers and one batch worker for each."""
    work = tmp_path_factory.mktemp("batch_cluster")
    redis = Redis(work / "redis").start()
    servers = [ComfyServer(work / f"server{i}") for i in range(2)]
    errors = []

    def start(s):
        try:
            s.start()
        except Exception as e:  # reported below, after both have tried
            errors.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    workers = []
    try:
        if errors:
            raise errors[0]
        env = {"PORTRAITOS_WATCH_SECONDS": "1"}
        for i, s in enumerate(servers):
            workers.append(start_worker(s.base, redis.url, work / f"worker{i}.log", name=f"test{i}@%h", env=env))
        wait_workers(redis.url, 2, timeout=120)
        root = tmp_path_factory.getbasetemp()  # the pictures root: the photos and every test's files lie in it
        yield {"redis": redis, "servers": servers, "workers": workers, "work": work, "root": root}
    finally:
        for w in workers:
            stop_worker(w)
        for s in servers:
            s.stop()
        redis.stop()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """16 different 160x160 crops (different pictures: no job is answered from ComfyUI's cache)."""
    folder = tmp_path_factory.mktemp("batch_photos")
    src = Image.open(REPO / "example_inputs" / "astronaut.jpg")
    out = []
    for i in range(16):
        x, y = 60 + 20 * (i % 8), 10 + 40 * (i // 8)
        p = folder / f"selfie{i}.png"
        src.crop((x, y, x + 160, y + 160)).save(p)
        out.append(p)
    return out


def write_manifest(path: Path, jobs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs))
    return path


def portrait_jobs(prefix: str, photos: list[Path], n: int) -> list[dict]:
    return [
        {"id": f"{prefix}{i}", "workflow": str(WORKFLOW), "images": {"1": str(photos[i])}, "set": {"4.f_number": 2.0}}
        for i in range(n)
    ]


def runner(manifest: Path, out: Path, cluster, wait=True, timeout=240):
    cmd = [sys.executable, "-m", "portraitos.headless.batch.run", str(manifest), "--out", str(out)]
    cmd += ["--broker", cluster["redis"].url, "--no-server-timeout", "60", "--pictures-root", str(cluster["root"])]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def done_ids(out: Path) -> set[str]:
    return {p.parent.name for p in out.glob("*/manifest.json")}


def job_of(image: str) -> str:
    """The job id in an uploaded picture's name (``portraitos_batch/<job id>-<file name>``)."""
    return image.rsplit("/", 1)[-1].split("-", 1)[0]


def runs_per_job(cluster, prefix: str, servers=None) -> dict[str, int]:
    """How many prompts each job's upload went into, over the servers' /history."""
    counts: dict[str, int] = {}
    for s in servers or cluster["servers"]:
        for entry in s.get_json("/history").values():
            image = entry["prompt"][2]["1"]["inputs"]["image"]
            job_id = job_of(image)
            if job_id.startswith(prefix):
                counts[job_id] = counts.get(job_id, 0) + 1
    return counts


def test_eight_jobs_over_two_servers(cluster, photos, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", portrait_jobs("eight", photos, 8))
    out = tmp_path / "out"
    r = runner(manifest, out, cluster)
    assert r.returncode == 0, r.stdout + r.stderr
    assert done_ids(out) == {f"eight{i}" for i in range(8)}
    servers = set()
    for i in range(8):
        m = json.loads((out / f"eight{i}" / "manifest.json").read_text())
        assert (out / f"eight{i}" / f"{PORTRAIT}_00001_.png").is_file() or any(
            f["file"].startswith(PORTRAIT) for f in m["files"]
        )
        assert all((out / f"eight{i}" / f["file"]).is_file() for f in m["files"]) and len(m["files"]) >= 4
        servers.add(m["server"])
    assert servers == {s.base for s in cluster["servers"]}, "both servers took jobs"
    assert "summary: 8/8 done" in r.stdout and "running" in r.stdout
    assert not list(out.glob(".*.tmp-*")), "no temporary folders left"
    summary = json.loads((out / ".batch_summary.json").read_text())
    assert summary["done_now"] == 8 and sum(summary["per_server"].values()) == 8
    assert all(n == 1 for n in runs_per_job(cluster, "eight").values())
    # run again: everything is there, nothing is sent
    r = runner(manifest, out, cluster)
    assert r.returncode == 0 and "8 already done" in r.stdout, r.stdout
    assert sum(runs_per_job(cluster, "eight").values()) == 8


def test_runner_killed_and_restarted_finishes_each_job_once(cluster, photos, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", portrait_jobs("restart", photos, 10))
    out = tmp_path / "out"
    first = runner(manifest, out, cluster, wait=False)
    deadline = time.time() + 120
    while len(done_ids(out)) < 2 and time.time() < deadline:
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    at_kill = done_ids(out)
    assert 2 <= len(at_kill) < 10, f"the runner was to be killed mid-batch; {len(at_kill)} done"
    r = runner(manifest, out, cluster)
    assert r.returncode == 0, r.stdout + r.stderr
    assert done_ids(out) == {f"restart{i}" for i in range(10)}
    assert f"{len(at_kill)} already done" in r.stdout or "already done" in r.stdout, r.stdout
    runs = runs_per_job(cluster, "restart")
    assert runs == {f"restart{i}": 1 for i in range(10)}, f"each job run exactly once: {runs}"
    for i in range(10):
        m = json.loads((out / f"restart{i}" / "manifest.json").read_text())
        assert m["attempt"] == 1
    assert not list(out.glob(".*.tmp-*"))


def test_bad_inputs_are_reported_with_the_servers_error_and_the_rest_done(cluster, photos, tmp_path):
    not_a_picture = tmp_path / "selfie.png"
    not_a_picture.write_text("this is not a picture\n")
    jobs = portrait_jobs("bad", photos[10:], 4)
    jobs[1]["images"] = {"1": str(not_a_picture)}
    jobs[2]["set"] = {"4.f_number": 1000}  # out of LensBokeh's range: refused at validation
    jobs.append({"id": "bad-missing", "workflow": str(WORKFLOW), "images": {"1": str(tmp_path / "gone.jpg")}})
    manifest = write_manifest(tmp_path / "m.jsonl", jobs)
    out = tmp_path / "out"
    r = runner(manifest, out, cluster)
    assert r.returncode == 1, r.stdout + r.stderr
    assert done_ids(out) == {"bad0", "bad3"}
    summary = json.loads((out / ".batch_summary.json").read_text())
    failed = summary["failed"]
    assert set(failed) == {"bad1", "bad2", "bad-missing"}, failed
    # a file that is not a picture is refused before anything is uploaded
    assert "is not a picture" in failed["bad1"], failed["bad1"]
    # the server's validation message
    assert "refused" in failed["bad2"] and "f_number" in failed["bad2"] and "1000" in failed["bad2"], failed["bad2"]
    assert "gone.jpg" in failed["bad-missing"]
    assert "FAILED bad1" in r.stdout and "FAILED bad2" in r.stdout
    # never sent to a server
    assert "bad1" not in runs_per_job(cluster, "bad")
    # every upload removed from the servers once its job ended
    for s in cluster["servers"]:
        assert not list(s.input_dir.rglob("bad*")), list(s.input_dir.rglob("bad*"))


def test_server_killed_mid_job_its_job_finishes_on_the_other(cluster, photos, tmp_path):
    victim, survivor = cluster["servers"]
    manifest = write_manifest(tmp_path / "m.jsonl", portrait_jobs("kill", photos, 8))
    out = tmp_path / "out"
    proc = runner(manifest, out, cluster, wait=False)
    killed_job = None
    deadline = time.time() + 120
    while time.time() < deadline and killed_job is None:
        running = victim.get_json("/queue").get("queue_running") or []
        if running:
            killed_job = job_of(running[0][2]["1"]["inputs"]["image"])
            os.killpg(victim.proc.pid, signal.SIGKILL)
        else:
            time.sleep(0.03)
    assert killed_job is not None, "the server never ran a job"
    victim.proc.wait(timeout=10)
    try:
        stdout, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, stdout
    assert done_ids(out) == {f"kill{i}" for i in range(8)}
    m = json.loads((out / killed_job / "manifest.json").read_text())
    assert m["server"] == survivor.base and m["attempt"] == 2, m
    assert not (out / killed_job).with_name(f".{killed_job}.tmp").exists()
    # the survivor ran each job once; the victim took no job after it went down
    runs = runs_per_job(cluster, "kill", servers=[survivor])
    assert all(n == 1 for n in runs.values()), runs
    victim_jobs = {
        i for i in range(8) if json.loads((out / f"kill{i}" / "manifest.json").read_text())["server"] == victim.base
    }
    assert len(runs) + len(victim_jobs) == 8
    # the victim's worker handed its job back and stopped taking jobs (the task's own request, or its watch)
    log = (cluster["work"] / "worker0.log").read_text()
    assert "handed back" in log and ("Canceling queue" in log or "does not answer" in log), log[-3000:]
    # the server back on its address: the worker takes jobs again
    victim.start()
    wait_workers(cluster["redis"].url, 2, timeout=60)


def _when_a_job_runs_on(server, timeout=120.0) -> str | None:
    """The id of the job ``server`` is running, as soon as it runs one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        running = server.get_json("/queue").get("queue_running") or []
        if running:
            return job_of(running[0][2]["1"]["inputs"]["image"])
        time.sleep(0.03)
    return None


def test_redis_killed_and_restarted_mid_batch_every_job_done_once(cluster, photos, tmp_path):
    """redis-server SIGKILLed while jobs run and started again (append-only on): the runner waits for it and
    goes on, the jobs in flight finish and are collected, none runs twice, exit 0 with the summary."""
    redis = cluster["redis"]
    manifest = write_manifest(tmp_path / "m.jsonl", portrait_jobs("redis", photos, 8))
    out = tmp_path / "out"
    proc = runner(manifest, out, cluster, wait=False)
    assert _when_a_job_runs_on(cluster["servers"][0]) is not None, "no job ran"
    os.killpg(redis.proc.pid, signal.SIGKILL)
    redis.proc.wait(timeout=10)
    time.sleep(3.0)
    redis.start()
    try:
        stdout, _ = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the runner did not finish: {proc.communicate()[0][-4000:]}") from None
    assert proc.returncode == 0, stdout[-4000:]
    assert "the broker does not answer" in stdout and "the broker answers again" in stdout, stdout[-4000:]
    assert "summary: 8/8 done" in stdout, stdout[-4000:]
    assert done_ids(out) == {f"redis{i}" for i in range(8)}
    runs = runs_per_job(cluster, "redis")
    assert runs == {f"redis{i}": 1 for i in range(8)}, f"each job run exactly once: {runs}"
    assert not list(out.glob(".*.tmp-*"))
    wait_workers(redis.url, 2, timeout=60)


def test_worker_killed_mid_job_its_job_is_sent_again_within_seconds(cluster, photos, tmp_path):
    """A worker killed under a job (its machine gone): the runner sees it no longer answers and sends the job
    again, instead of Redis' visibility timeout (an hour); every job's output exactly once."""
    victim = cluster["servers"][0]
    manifest = write_manifest(tmp_path / "m.jsonl", portrait_jobs("wkill", photos, 8))
    out = tmp_path / "out"
    proc = runner(manifest, out, cluster, wait=False)
    killed_job = _when_a_job_runs_on(victim)
    assert killed_job is not None, "the worker never ran a job"
    worker = cluster["workers"][0]
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = time.time()
    try:
        stdout, _ = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the runner did not finish: {proc.communicate()[0][-4000:]}") from None
    assert proc.returncode == 0, stdout[-4000:]
    # minutes on a loaded machine, not Redis' visibility timeout (an hour)
    assert time.time() - killed_at < 600, "collected within minutes, not the visibility timeout"
    assert f"job {killed_job}: its worker test0@" in stdout and "sent again" in stdout, stdout[-4000:]
    assert done_ids(out) == {f"wkill{i}" for i in range(8)}
    m = json.loads((out / killed_job / "manifest.json").read_text())
    assert m["worker"].startswith("test1@"), m
    # outputs: one folder per job, each with its files; the survivor ran each of its jobs once
    for i in range(8):
        m = json.loads((out / f"wkill{i}" / "manifest.json").read_text())
        assert m["id"] == f"wkill{i}" and all((out / f"wkill{i}" / f["file"]).is_file() for f in m["files"])
    survivor_runs = runs_per_job(cluster, "wkill", servers=[cluster["servers"][1]])
    assert all(n == 1 for n in survivor_runs.values()), survivor_runs
    assert not list(out.glob(".*.tmp-*"))
    # the worker back: both take jobs again
    cluster["workers"][0] = start_worker(
        victim.base, cluster["redis"].url, cluster["work"] / "worker0b.log", name="test0@%h",
        env={"PORTRAITOS_WATCH_SECONDS": "1"},
    )  # fmt: skip
    wait_workers(cluster["redis"].url, 2, timeout=120)
