"""A batch worker for one ComfyUI server (Celery, one job at a time).

    python -m portraitos.headless.batch.worker --server http://127.0.0.1:8188 --broker redis://queue-host:6379/0

is the same as ``PORTRAITOS_BROKER=... celery -A portraitos.headless.batch.tasks worker --comfy-server URL
--concurrency 1 -Q portraitos``. Run one next to each ComfyUI (on the GPU machine); a new machine joins a
running batch by starting its ComfyUI and this worker. It keeps running across batches; stop it with
SIGTERM (a job in progress is finished first, or handed back to the queue on a second signal).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Run batch jobs from the queue on one ComfyUI server.")
    ap.add_argument("--server", required=True, help="this worker's ComfyUI, e.g. http://127.0.0.1:8188")
    ap.add_argument("--broker", default=None, help="Redis URL (default $PORTRAITOS_BROKER or redis://127.0.0.1:6379/0)")
    ap.add_argument("--queue", default=None, help="queue name (default $PORTRAITOS_QUEUE or portraitos)")
    ap.add_argument("--name", default=None, help="worker name (default portraitos-<host>-<server port>@<host>)")
    ap.add_argument("--loglevel", default="INFO")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    server = args.server if "://" in args.server else "http://" + args.server
    os.environ["PORTRAITOS_COMFY_SERVER"] = server
    if args.broker:
        os.environ["PORTRAITOS_BROKER"] = args.broker
    if args.queue:
        os.environ["PORTRAITOS_QUEUE"] = args.queue
    from . import tasks  # reads the environment above

    host = socket.gethostname()
    port = server.rsplit(":", 1)[-1].strip("/") if server.count(":") > 1 else "80"
    name = args.name or f"portraitos-{host}-{port}@{host}"
    tasks.app.worker_main(
        [
            "worker",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "-Q",
            tasks.QUEUE,
            "-n",
            name,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            args.loglevel,
            "--comfy-server",
            server,
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
