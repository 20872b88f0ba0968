"""Run a manifest of jobs over every ComfyUI server that has a batch worker on the broker.

    python -m portraitos.headless.batch.run manifest.jsonl --broker redis://queue-host:6379/0 --out /shared/out

Each job not yet done (no ``<out>/<id>/manifest.json``) is sent to the queue with its id as the task id;
the workers (``python -m portraitos.headless.batch.worker``, one per ComfyUI) run them. Progress (done,
failed, running, queued, per server) is printed while it runs, a summary at the end, and
``<out>/.batch_summary.json`` written. Killing the runner loses nothing: the queue and the workers go on,
and running it again sends only what is missing (a job already queued or running is not run twice).

``--out`` and the pictures must be paths every worker sees (the same folder, or a shared mount). Exit
status: 0 every job done; 1 some failed (each with the server's message); 2 a bad argument or manifest;
3 the broker cannot be reached or no worker takes jobs (no server up) for ``--no-server-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..run_workflow import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, Failure
from .job import read_done
from .manifest import read_manifest

# what the broker's client raises while Redis is away (killed, restarting, the network down)
BROKER_ERRORS = (RedisConnectionError, RedisTimeoutError, OperationalError, ConnectionError, TimeoutError)
VANISHED_SECONDS = 10.0  # a worker silent this long under a running job has vanished: its job is sent again


def _error_text(result) -> str:
    if isinstance(result, BaseException):
        return str(result) or type(result).__name__
    if isinstance(result, dict):  # an exception the runner could not rebuild
        msg = result.get("exc_message")
        if isinstance(msg, (list, tuple)):
            msg = " ".join(map(str, msg))
        return f"{result.get('exc_type', 'error')}: {msg}"
    return str(result)


def _broker_lost(result) -> bool:
    """Whether a task failed because its worker lost the broker (Redis restarting), not because of its job."""
    kind = type(result).__name__ if isinstance(result, BaseException) else (result or {}).get("exc_type", "")
    return kind in ("ConnectionError", "OperationalError", "TimeoutError", "BusyLoadingError")


class Workers:
    """The batch workers on the broker and their servers, asked in the background every few seconds."""

    def __init__(self, app, every: float = 3.0):
        self.app = app
        self.every = every
        self.seen: dict[str, dict] = {}  # worker name -> {"server", "consuming"}
        self.last_reply: dict[str, float] = {}  # worker name -> when it last answered
        self.last_asked = 0.0  # when the broker last carried a question (answered or not)
        self.last_consuming = time.time()
        self.asked = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.stop.is_set():
            try:
                with self.app.connection_for_write() as conn:  # a new connection each time: a restarted broker
                    replies = self.app.control.broadcast("portraitos_server", reply=True, timeout=1.0, connection=conn)
                replies = replies or []
                seen = {}
                for reply in replies:
                    for name, info in reply.items():
                        if isinstance(info, dict) and "server" in info:
                            seen[name] = info
                self.seen = seen
                now = time.time()
                self.last_asked = now
                for name in seen:
                    self.last_reply[name] = now
                if any(i.get("consuming") for i in seen.values()):
                    self.last_consuming = now
            except Exception:  # the broker away: the next question, on a new connection, may get through
                pass
            self.asked.set()
            self.stop.wait(self.every)

    def vanished(self, grace: float) -> set[str]:
        """Workers that answered once but not in the last ``grace`` seconds of questions the broker carried."""
        return {name for name, t in self.last_reply.items() if self.last_asked - t > grace}

    def consuming(self) -> list[str]:
        return sorted({i["server"] for i in self.seen.values() if i.get("consuming")})

    def down(self) -> list[str]:
        return sorted({i["server"] for i in self.seen.values() if not i.get("consuming")})


class Batch:
    def __init__(self, jobs: list[dict], out: Path):
        self.jobs = {j["id"]: j for j in jobs}
        self.out = out
        self.done: dict[str, dict] = {}  # id -> its manifest
        self.already: set[str] = set()  # done before this run started
        self.failed: dict[str, str] = {}
        self.running: dict[str, str] = {}  # id -> server
        self.worker_of: dict[str, str] = {}  # id -> the worker running it (its STARTED state says)
        self.resent_for: dict[str, str] = {}  # id -> the worker whose copy of it was given up (sent again)
        self.to_resend: set[str] = set()  # ended without a result (REVOKED): send again
        self.sent: set[str] = set()  # sent to the queue by this run
        self.all_sent = False
        self.handed_back: set[str] = set()

    def pending(self) -> list[str]:
        return [i for i in self.jobs if i not in self.done and i not in self.failed]


def submit(app, batch: Batch, only: list[str] | None = None) -> None:
    """Send the pending jobs (or ``only`` these) to the queue, each with its id as the task id. Sending a job
    twice is safe: a copy whose job is done (its folder's manifest exists) returns at once, and a Redis lock
    keeps two copies from running together."""
    from .tasks import QUEUE, run_job

    backend = app.backend
    for job_id in batch.pending() if only is None else only:
        if only is None and job_id in batch.sent:
            continue  # sent before the broker went away in the middle of sending
        job = batch.jobs[job_id]
        if job.get("error"):
            batch.failed[job_id] = job["error"]
            continue
        meta = backend.get_task_meta(job_id)
        if meta.get("status") in ("FAILURE", "SUCCESS", "REVOKED"):
            backend.forget(job_id)  # an earlier run's outcome (or its output was removed): this run decides
        body = {k: v for k, v in job.items() if k != "error"}
        run_job.apply_async(kwargs={"job": body, "out": str(batch.out)}, task_id=job_id, queue=QUEUE)
        batch.sent.add(job_id)
    if only is None:
        batch.all_sent = True


def queued_ids(app) -> set[str]:
    """The task ids of the messages waiting in the queue (its Redis lists, every priority)."""
    from .tasks import QUEUE

    client = app.backend.client
    ids: set[str] = set()
    for key in [QUEUE.encode(), *client.keys(QUEUE.encode() + b"\x06\x16*")]:
        for raw in client.lrange(key, 0, -1):
            try:
                ids.add(json.loads(raw)["headers"]["id"])
            except (ValueError, KeyError, TypeError):
                continue
    return ids


def resend_lost(app, batch: Batch, stream) -> None:
    """After the broker came back: send again every pending job that is neither waiting in the queue nor
    started (its message was lost with the broker, or its run ended without a result)."""
    backend = app.backend
    waiting = queued_ids(app)
    lost = []
    for job_id in batch.pending():
        if job_id not in batch.sent or job_id in waiting or read_done(batch.out, job_id) is not None:
            continue
        state = backend.get_task_meta(job_id).get("status")
        if state in ("PENDING", "REVOKED") and job_id not in batch.running:
            lost.append(job_id)
    if lost:
        print(f"sending again {len(lost)} jobs the broker lost: {', '.join(lost[:10])}", file=stream, flush=True)
        submit(app, batch, lost)


def resend_from_vanished(app, batch: Batch, workers: Workers, stream, grace: float) -> None:
    """Send again the jobs running on a worker that has not answered for ``grace`` seconds (killed, its
    machine gone): Redis would hand its message to another worker only after the visibility timeout (an
    hour or more). Should the worker still be running it, its lock keeps the copy waiting, and the copy
    finds the job done when it has finished."""
    gone = workers.vanished(grace)
    again = [i for i, w in batch.worker_of.items() if w in gone and i in batch.running and batch.resent_for.get(i) != w]
    for job_id in again:
        worker = batch.worker_of[job_id]
        batch.resent_for[job_id] = worker
        batch.running.pop(job_id, None)
        print(f"job {job_id}: its worker {worker} has not answered for {grace:.0f}s: sent again", file=stream)
    if again:
        submit(app, batch, again)
    if batch.to_resend:
        again = sorted(batch.to_resend)
        batch.to_resend.clear()
        print(f"sending again {len(again)} jobs that ended without a result: {', '.join(again[:10])}", file=stream)
        submit(app, batch, again)


def poll(app, batch: Batch) -> None:
    backend = app.backend
    ids = batch.pending()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        raw = backend.client.mget([backend.get_key_for_task(i) for i in chunk])
        for job_id, value in zip(chunk, raw):
            done = read_done(batch.out, job_id)
            if done is not None:
                batch.done[job_id] = done
                batch.running.pop(job_id, None)
                continue
            if value is None:
                continue
            meta = backend.decode_result(value)
            state, result = meta.get("status"), meta.get("result")
            if state == "FAILURE" and _broker_lost(result):  # the broker away under it: not the job's fault
                batch.running.pop(job_id, None)
                batch.to_resend.add(job_id)
                backend.forget(job_id)
            elif state == "FAILURE":
                batch.failed[job_id] = _error_text(result)
                batch.running.pop(job_id, None)
            elif state == "SUCCESS" and isinstance(result, dict) and result.get("files") is not None:
                batch.done[job_id] = result
                batch.running.pop(job_id, None)
            elif state == "STARTED" and isinstance(result, dict) and result.get("server"):
                if batch.resent_for.get(job_id) == result.get("worker"):
                    continue  # the state of the copy given up: the one sent again has not started yet
                batch.running[job_id] = result["server"]
                batch.worker_of[job_id] = result.get("worker", "")
            elif state == "REVOKED":  # cancelled under a lost broker connection, without a result
                batch.running.pop(job_id, None)
                batch.to_resend.add(job_id)
                backend.forget(job_id)
            elif state == "RETRY":
                batch.running.pop(job_id, None)
                batch.handed_back.add(job_id)


def progress_line(batch: Batch, workers: Workers, t0: float) -> str:
    n = len(batch.jobs)
    queued = n - len(batch.done) - len(batch.failed) - len(batch.running)
    per = Counter(m.get("server") for i, m in batch.done.items() if i not in batch.already)
    run = Counter(batch.running.values())
    servers = sorted(set(per) | set(run) | set(workers.consuming()) | set(workers.down()))
    parts = []
    for s in servers:
        state = "" if s in workers.consuming() or s not in workers.down() else " DOWN"
        parts.append(f"{s}: {per.get(s, 0)} done, {run.get(s, 0)} running{state}")
    return (
        f"[{time.time() - t0:6.1f}s] {len(batch.done)}/{n} done ({len(batch.already)} before), "
        f"{len(batch.failed)} failed, {len(batch.running)} running, {queued} queued"
        + (" | " + "; ".join(parts) if parts else "")
    )


def run_batch(
    manifest: Path,
    out: Path,
    broker: str | None = None,
    no_server_timeout: float = 120.0,
    interval: float = 0.25,
    stream=sys.stdout,
    pictures_root: Path | None = None,
) -> int:
    jobs = read_manifest(manifest, pictures_root)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from . import tasks

    app = tasks.configure(broker)
    try:
        app.backend.client.ping()
    except Exception as e:
        raise Failure(f"cannot reach the broker at {app.conf.broker_url}: {e}", EXIT_UNREACHABLE) from None
    t0 = time.time()
    batch = Batch(jobs, out)
    for job_id in list(batch.jobs):
        done = read_done(out, job_id)
        if done is not None:
            batch.done[job_id] = done
            batch.already.add(job_id)
    print(
        f"batch: {len(jobs)} jobs, {len(batch.already)} already done, output in {out}, broker {app.conf.broker_url}",
        file=stream,
        flush=True,
    )
    workers = Workers(app)
    last_line, last_print, code = None, 0.0, None
    lost_since: float | None = None  # when the broker stopped answering
    try:
        while batch.pending():
            try:
                if not batch.all_sent:
                    submit(app, batch)
                poll(app, batch)
                if lost_since is not None:
                    print(f"the broker answers again after {time.time() - lost_since:.0f}s", file=stream, flush=True)
                    lost_since = None
                    resend_lost(app, batch, stream)
                resend_from_vanished(app, batch, workers, stream, VANISHED_SECONDS)
            except BROKER_ERRORS as e:
                now = time.time()
                if lost_since is None:
                    lost_since = now
                    print(f"the broker does not answer ({e}): waiting for it", file=stream, flush=True)
                if now - lost_since > no_server_timeout:
                    print(
                        f"error: the broker at {app.conf.broker_url} has not answered for {no_server_timeout:.0f}s; "
                        "the jobs stay queued where it keeps them: run again to collect them",
                        file=stream,
                        flush=True,
                    )
                    code = EXIT_UNREACHABLE
                    break
                time.sleep(min(1.0, max(interval, 0.5)))
                continue
            line = progress_line(batch, workers, t0)
            now = time.time()
            if line.split("] ", 1)[1] != last_line or now - last_print > 10:
                print(line, file=stream, flush=True)
                last_line, last_print = line.split("] ", 1)[1], now
            if not batch.pending():
                break
            if workers.asked.is_set() and not batch.running and now - workers.last_consuming > no_server_timeout:
                print(
                    f"error: no worker has taken jobs for {no_server_timeout:.0f}s (no ComfyUI server up); "
                    f"{len(batch.pending())} jobs stay queued: run again to collect them",
                    file=stream,
                    flush=True,
                )
                code = EXIT_UNREACHABLE
                break
            time.sleep(interval)
    finally:
        workers.stop.set()
    wall = time.time() - t0
    new = [i for i in batch.done if i not in batch.already]
    per = Counter(batch.done[i].get("server") for i in new)
    summary = {
        "jobs": len(jobs),
        "done": len(batch.done),
        "done_before": len(batch.already),
        "done_now": len(new),
        "failed": batch.failed,
        "not_finished": batch.pending(),
        "per_server": dict(per),
        "wall_seconds": round(wall, 2),
        "jobs_per_minute": round(60 * len(new) / wall, 2) if wall > 0 else None,
    }
    tmp = out / ".batch_summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out / ".batch_summary.json")
    print(
        f"summary: {len(batch.done)}/{len(jobs)} done ({len(new)} now, {len(batch.already)} before), "
        f"{len(batch.failed)} failed, {len(batch.pending())} not finished, {wall:.1f}s"
        + (f", {summary['jobs_per_minute']} jobs/min" if new else ""),
        file=stream,
    )
    for server, count in sorted(per.items()):
        print(f"  {server}: {count} jobs", file=stream)
    for job_id, err in batch.failed.items():
        print(f"  FAILED {job_id}: {err}".replace("\n", "\n    "), file=stream)
    stream.flush()
    if code is not None:
        return code
    return EXIT_FAILED if batch.failed else EXIT_OK


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="Run a manifest of ComfyUI jobs over the batch workers on a broker.",
        epilog="exit status: 0 all done, 1 some failed, 2 bad argument or manifest, 3 broker or no server reachable",
    )
    ap.add_argument("manifest", help="JSON Lines: {id, workflow, images, set} per line")
    ap.add_argument("--out", required=True, help="output folder: <out>/<job id>/ per job (seen by every worker)")
    ap.add_argument("--broker", default=None, help="Redis URL (default $PORTRAITOS_BROKER or redis://127.0.0.1:6379/0)")
    ap.add_argument(
        "--no-server-timeout",
        type=float,
        default=120.0,
        help="give up (exit 3) after this many seconds without any worker taking jobs (default %(default)s)",
    )
    ap.add_argument(
        "--pictures-root",
        default=None,
        help="every job's pictures must lie in this folder, links followed (default: the manifest's folder)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        root = Path(args.pictures_root) if args.pictures_root else None
        return run_batch(Path(args.manifest), Path(args.out), args.broker, args.no_server_timeout, pictures_root=root)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("interrupted: the queued jobs go on; run again to collect them", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
