"""The engine: a Celery app on a Redis broker, its one task (a batch job) and the worker's server watch.

One worker per ComfyUI server, each bound to its server by configuration::

    PORTRAITOS_BROKER=redis://queue-host:6379/0 \\
        celery -A portraitos.headless.batch.tasks worker --comfy-server http://127.0.0.1:8188 \\
        --concurrency 1 -Q portraitos

(or ``python -m portraitos.headless.batch.worker --server URL --broker URL``, which runs the same).

Delivery: late acknowledgement (a job's message is acknowledged only when the job has finished or
failed for good), a message whose worker process dies is requeued, each worker takes one message at
a time (prefetch 1), results live in the same Redis. The task is idempotent: a job whose
``<out>/<id>/manifest.json`` exists is not run again, and a Redis lock (renewed while the job runs)
keeps two copies of one job from running at once, so a message delivered twice (a restarted runner
sends again what it cannot see finished) runs once.

Broker restarted (Redis killed and started again, append-only on): the workers and the runner reconnect; a
job running meanwhile is not cancelled, it finishes and its result is collected; the runner sends again what
the broker lost (neither queued nor started). A worker killed under a job (its machine gone): the runner,
which asks the workers for their state every few seconds, sends the job again once its worker has not
answered for ``run.VANISHED_SECONDS``, rather than waiting for Redis' visibility timeout (an hour or more).

Server down: the worker watches its ComfyUI (``/system_stats`` every few seconds); while the server does
not answer, the worker stops consuming and resumes when it answers again. A job whose server becomes
unreachable while it runs is handed back to the queue (for another worker) up to
``PORTRAITOS_MAX_CONNECTION_FAILURES`` times (default 3), then reported failed. A job the server refuses
or that fails in a node (the input's fault) fails at once with the server's message and is not retried.

Environment: ``PORTRAITOS_BROKER`` (default ``redis://127.0.0.1:6379/0``), ``PORTRAITOS_QUEUE`` (default
``portraitos``), ``PORTRAITOS_COMFY_SERVER`` (the worker's server; or ``--comfy-server``),
``PORTRAITOS_JOB_TIMEOUT`` (seconds, default 3600).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from celery import Celery, bootsteps
from celery.exceptions import Reject
from celery.worker.control import control_command
from click import Option

from .job import JobFailed, ServerUnreachable, execute, read_done, server_up

log = logging.getLogger("portraitos.batch")

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
QUEUE = os.environ.get("PORTRAITOS_QUEUE", "portraitos")
MAX_CONNECTION_FAILURES = int(os.environ.get("PORTRAITOS_MAX_CONNECTION_FAILURES", "3"))
JOB_TIMEOUT = float(os.environ.get("PORTRAITOS_JOB_TIMEOUT", "3600"))
WATCH_SECONDS = float(os.environ.get("PORTRAITOS_WATCH_SECONDS", "2"))
LOCK_SECONDS = 30.0
TASK = "portraitos.batch.run_job"

app = Celery("portraitos.batch")


def configure(broker: str | None = None) -> Celery:
    """Point the app at a broker (and the same Redis for results); before the app is first used."""
    url = broker or os.environ.get("PORTRAITOS_BROKER") or DEFAULT_BROKER
    app.conf.update(
        broker_url=url,
        result_backend=url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,  # acknowledged when the job has ended, not when it was received
        task_reject_on_worker_lost=True,  # the worker process died under the job: requeue it
        worker_prefetch_multiplier=1,  # one unacknowledged message per worker: nothing waits on a busy one
        task_track_started=True,
        result_extended=True,
        result_expires=30 * 86400,  # a runner restarted within a month still finds what finished
        # a message taken by a worker that vanished (power cut) is redelivered after this: longer than a job
        broker_transport_options={"visibility_timeout": max(2 * JOB_TIMEOUT, 3600)},
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        broker_connection_retry_on_startup=True,
        # a lost broker connection (Redis restarted) does not cancel the job running: it finishes, its folder is
        # written, and the copy Redis hands out again later finds it done (the job folder's manifest is the truth)
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
    )
    return app


configure()


def worker_server() -> str | None:
    return os.environ.get("PORTRAITOS_COMFY_SERVER") or None


# --- the worker: bound to one ComfyUI server; stops consuming while it is down ---------------------------------

app.user_options["worker"].add(
    Option(
        ["--comfy-server"],
        default=None,
        help="the ComfyUI server this worker runs jobs on (or PORTRAITOS_COMFY_SERVER)",
    )
)


class ServerWatch(bootsteps.StartStopStep):
    """Consume from the queue only while this worker's ComfyUI answers."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, comfy_server=None, **kwargs):
        super().__init__(parent, **kwargs)
        if comfy_server:
            os.environ["PORTRAITOS_COMFY_SERVER"] = comfy_server  # the pool's processes inherit it
        self.server = worker_server()
        if not self.server:
            raise RuntimeError("a batch worker needs its ComfyUI server: --comfy-server URL or PORTRAITOS_COMFY_SERVER")
        self.tref = None

    def start(self, c):
        log.info("batch worker bound to ComfyUI at %s, queue %s", self.server, QUEUE)
        if not server_up(self.server, timeout=1.5):  # the event loop starts consuming after this step
            log.warning("ComfyUI at %s does not answer: not taking jobs until it does", self.server)
            c.cancel_task_queue(QUEUE)
        self.tref = c.timer.call_repeatedly(WATCH_SECONDS, self.check, (c,), priority=10)

    def check(self, c):
        consuming = c.task_consumer is not None and c.task_consumer.consuming_from(QUEUE)
        up = server_up(self.server, timeout=1.5)
        if consuming and not up:
            log.warning("ComfyUI at %s does not answer: not taking jobs until it does", self.server)
            c.cancel_task_queue(QUEUE)
        elif up and not consuming and c.task_consumer is not None:
            log.warning("ComfyUI at %s answers: taking jobs", self.server)
            c.add_task_queue(QUEUE)

    def stop(self, c):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


app.steps["consumer"].add(ServerWatch)


@control_command()
def portraitos_server(state, **kwargs):
    """Which ComfyUI this worker runs jobs on and whether it is taking jobs (for the runner's progress)."""
    c = state.consumer
    consuming = bool(c.task_consumer is not None and c.task_consumer.consuming_from(QUEUE))
    return {"server": worker_server(), "consuming": consuming, "queue": QUEUE}


# --- the job ---------------------------------------------------------------------------------------------------


def lock_name(out: str, job_id: str) -> str:
    return f"portraitos:batch:lock:{hashlib.sha1(str(out).encode()).hexdigest()[:12]}:{job_id}"


class _Held:
    """A Redis lock renewed in the background while the job runs, so a crashed worker's lock lapses."""

    def __init__(self, name: str):
        import redis

        self.redis = redis.Redis.from_url(app.conf.broker_url)
        self.lock = self.redis.lock(name, timeout=LOCK_SECONDS, blocking=False)
        self.stop = threading.Event()

    def __enter__(self) -> bool:
        if not self.lock.acquire():
            return False
        threading.Thread(target=self._renew, daemon=True).start()
        return True

    def _renew(self):
        while not self.stop.wait(LOCK_SECONDS / 3):
            try:
                self.lock.reacquire()
            except Exception:  # the broker away for a moment: the next renewal may succeed
                pass

    def __exit__(self, *exc):
        self.stop.set()
        try:
            if self.lock.owned():
                self.lock.release()
        except Exception:
            pass
        self.redis.close()
        return False


def _stop_consuming(task) -> None:
    try:
        app.control.cancel_consumer(QUEUE, destination=[task.request.hostname], reply=False)
    except Exception:  # the watch does the same within a few seconds
        pass


@app.task(bind=True, name=TASK, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def run_job(self, job: dict, out: str, connection_failures: int = 0) -> dict:
    server = worker_server()
    done = read_done(Path(out), job["id"])
    if done is not None:
        return {**done, "already_done": True}
    if not server or not server_up(server):
        # this worker's server is down: the job goes back untouched (not counted) for a worker whose server is up
        _stop_consuming(self)
        time.sleep(1.0)
        raise Reject(f"ComfyUI at {server} does not answer", requeue=True)
    with _Held(lock_name(out, job["id"])) as held:
        if not held:  # another copy of this job is running: look again later (it may finish, or its worker die)
            raise self.retry(countdown=LOCK_SECONDS / 3, args=[], kwargs={**self.request.kwargs})
        done = read_done(Path(out), job["id"])
        if done is not None:
            return {**done, "already_done": True}
        self.update_state(
            state="STARTED", meta={"server": server, "worker": self.request.hostname, "started": time.time()}
        )
        try:
            return execute(
                job,
                Path(out),
                server,
                timeout=JOB_TIMEOUT,
                extra={"worker": self.request.hostname, "attempt": connection_failures + 1},
            )
        except JobFailed as e:
            raise JobFailed(f"on {server}: {e}") from None
        except ServerUnreachable as e:
            n = connection_failures + 1
            if n >= MAX_CONNECTION_FAILURES:
                raise JobFailed(f"gave up after {n} connection failures; the last, on {server}: {e}") from None
            log.warning("job %s: %s; handed back (failure %d of %d)", job["id"], e, n, MAX_CONNECTION_FAILURES)
            _stop_consuming(self)
            raise self.retry(
                countdown=0, exc=e, args=[], kwargs={"job": job, "out": out, "connection_failures": n}
            ) from None
