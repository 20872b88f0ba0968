"""A whole batch on this machine: a Redis, N ComfyUI servers, a worker each, the runner; all stopped after.

    .venv/bin/python -m portraitos.headless.batch.local --servers 2 manifest.jsonl --out out/batch

ComfyUI comes from ``COMFYUI_DIR``, ``.comfyui-path`` or ``.comfyui/`` (``scripts/provision.sh``); Redis is
Debian's ``redis-server`` (``scripts/install_system_deps.sh``). With ``--gpus 0,1`` server i runs on GPU
``i mod count``; with ``--cpu`` on the CPU. The queue is kept in ``<work>/redis`` (append-only file), so a
killed run started again with the same ``--work`` folder finds its queue; without ``--work`` a fresh
temporary folder is used and removed at the end. Exit status as the runner's.

The parts (:class:`Redis`, :func:`start_worker`) are used by the tests and the benchmark; ComfyUI is started
by the one launcher, :class:`portraitos.headless.server.ComfyServer`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..run_workflow import EXIT_UNREACHABLE, EXIT_USAGE, Failure
from ..server import ComfyServer, free_port, stop_process


class Redis:
    """A private redis-server on 127.0.0.1 (append-only persistence in ``workdir``)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> Redis:
        exe = shutil.which("redis-server")
        if exe is None:
            raise Failure("redis-server not found: install it (bash scripts/install_system_deps.sh)", EXIT_USAGE)
        self._log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes", "--protected-mode", "yes"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: see {self.dir / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()


def start_worker(server: str, broker: str, log_path: Path, name: str | None = None, env: dict | None = None):
    """``python -m portraitos.headless.batch.worker`` for one server, in its own process group."""
    cmd = [sys.executable, "-m", "portraitos.headless.batch.worker", "--server", server, "--broker", broker]
    if name:
        cmd += ["--name", name]
    log = open(log_path, "ab")
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
    )
    log.close()
    return proc


def wait_workers(broker: str, count: int, timeout: float = 120.0) -> None:
    """Until ``count`` batch workers take jobs."""
    from . import tasks

    app = tasks.configure(broker)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with app.connection_for_write() as conn:  # a new connection each time: the broker may have restarted
                replies = app.control.broadcast("portraitos_server", reply=True, timeout=1.0, connection=conn) or []
        except Exception:  # the broker restarting
            replies = []
        if sum(1 for r in replies for info in r.values() if isinstance(info, dict) and info.get("consuming")) >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"fewer than {count} batch workers came up within {timeout}s")


def stop_worker(proc: subprocess.Popen) -> None:
    stop_process(proc, signal.SIGTERM, wait=60)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Run a batch manifest on N local ComfyUI servers (all started here).")
    ap.add_argument("manifest")
    ap.add_argument("--out", required=True)
    ap.add_argument("--servers", type=int, default=1, help="how many ComfyUI servers (default %(default)s)")
    ap.add_argument("--gpus", default=None, help="comma-separated GPU indices, server i on gpus[i mod n]")
    ap.add_argument("--cpu", action="store_true", help="run the servers on the CPU (the default without --gpus)")
    ap.add_argument("--work", default=None, help="folder for the servers' files, logs and the queue (kept)")
    ap.add_argument(
        "--pictures-root",
        default=None,
        help="every job's pictures must lie in this folder (default: the manifest's folder)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.servers < 1:
        print("error: --servers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    gpus = [g.strip() for g in args.gpus.split(",")] if args.gpus else []
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="portraitos-batch-"))
    redis, servers, workers = None, [], []
    from .run import run_batch

    try:
        from .manifest import read_manifest

        root = Path(args.pictures_root) if args.pictures_root else None
        read_manifest(Path(args.manifest), root)  # a bad manifest before anything starts
        redis = Redis(work / "redis").start()
        for i in range(args.servers):
            servers.append(
                ComfyServer(
                    work / f"server{i}", cpu=args.cpu or not gpus, gpu=gpus[i % len(gpus)] if gpus else None
                ).launch()
            )
        for s in servers:
            s.wait_ready()
        print(f"local: redis {redis.url}, ComfyUI {', '.join(s.base for s in servers)} (logs in {work})", flush=True)
        for i, s in enumerate(servers):
            workers.append(start_worker(s.base, redis.url, work / f"worker{i}.log", name=f"local{i}@%h"))
        wait_workers(redis.url, len(servers))
        return run_batch(Path(args.manifest), Path(args.out), redis.url, no_server_timeout=60.0, pictures_root=root)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        for w in workers:
            stop_worker(w)
        for s in servers:
            s.stop()
        if redis is not None:
            redis.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
