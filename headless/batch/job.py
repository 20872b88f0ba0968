"""One batch job on one ComfyUI server: the graph, its uploads and overrides, the run, the outputs.

Standard library only (plus ``headless/run_workflow.py``'s client), so it runs and is tested without the
engine. A job is a dict (:func:`portraitos.headless.batch.manifest.read_manifest` builds them)::

    {"id": "cust-0042", "workflow": {...graph or editor workflow...}, "workflow_file": "portrait.json",
     "images": {"1": "/shared/in/cust-0042.jpg"}, "set": ["4.f_number=1.2"]}

:func:`execute` writes the job's images into ``<out>/<id>.tmp-<random>/`` and renames that folder to
``<out>/<id>/`` once ``manifest.json`` (what was written, where it ran, the server's prompt id and timings)
is in it, so ``<out>/<id>/manifest.json`` exists exactly when the job is done.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import socket
import time
import urllib.parse
import uuid
from pathlib import Path

from ..files import MAX_PICTURE_BYTES, FileProblem, picture_kind, read_bytes
from ..run_workflow import (
    EXIT_UNREACHABLE,
    Client,
    Failure,
    apply_sets,
    find_node,
    format_execution_error,
    format_rejection,
)
from ..workflow_format import WorkflowError, is_ui_format, ui_to_api

log = logging.getLogger("portraitos.batch")

MANIFEST = "manifest.json"
UPLOADS = "portraitos_batch"  # the input subfolder of the jobs' pictures (services/batch_uploads.py)
REMOVE_ROUTE = "/portraitos/batch/remove_upload"


class JobFailed(Exception):
    """The job cannot succeed as given (refused graph, failing node, bad file): report it, do not retry."""


class ServerUnreachable(Exception):
    """The server could not be reached or dropped the connection: the job may succeed elsewhere."""


def job_dir(out: Path, job_id: str) -> Path:
    return Path(out) / job_id


def is_done(out: Path, job_id: str) -> bool:
    return (job_dir(out, job_id) / MANIFEST).is_file()


def read_done(out: Path, job_id: str) -> dict | None:
    try:
        return json.loads((job_dir(out, job_id) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def server_up(server: str, timeout: float = 2.0) -> bool:
    try:
        Client(server, timeout=timeout).get("/system_stats")
        return True
    except Exception:
        return False


class _Guard:
    """Turns the client's errors into the two outcomes a batch tells apart."""

    def __init__(self, server: str):
        self.server = server

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is None or isinstance(exc, (JobFailed, ServerUnreachable)):
            return False
        if isinstance(exc, Failure):
            if exc.code == EXIT_UNREACHABLE:
                raise ServerUnreachable(str(exc)) from None
            raise JobFailed(str(exc)) from None
        if isinstance(exc, (http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError, OSError)):
            raise ServerUnreachable(f"lost the connection to ComfyUI at {self.server}: {exc!r}") from None
        return False


def build_graph(job: dict, client: Client) -> dict:
    data = json.loads(json.dumps(job["workflow"]))  # a copy: the job stays as it was sent
    what = job.get("workflow_file") or "the workflow"
    if is_ui_format(data):
        info = client.get_json("/object_info")
        try:
            graph = ui_to_api(data, lambda t: info[t], known=lambda t: t in info)
        except WorkflowError as e:
            raise JobFailed(f"{what}: {e}") from None
    else:
        if not isinstance(data, dict) or not all(isinstance(v, dict) and "class_type" in v for v in data.values()):
            raise JobFailed(f"{what} is neither an API-format graph nor an editor workflow")
        graph, info = data, None
    apply_sets(graph, list(job.get("set") or []), info)
    return graph


def upload_images(job: dict, graph: dict, client: Client, uploaded: list[str] | None = None) -> None:
    """Upload each of the job's pictures under a name of its own (``<job id>-<file name>``, input subfolder
    :data:`UPLOADS`), so jobs sharing a server never see each other's files, and put it into its node's
    ``image``; each upload's name is appended to ``uploaded``. A picture must be a regular file of at most
    ``files.MAX_PICTURE_BYTES`` whose first bytes are a picture format's (checked again here: the file may
    have changed since the manifest was read)."""
    uploaded = [] if uploaded is None else uploaded
    for node_ref, path_text in (job.get("images") or {}).items():
        path = Path(path_text)
        nid = find_node(graph, str(node_ref), f"images[{node_ref!r}]")
        if "image" not in graph[nid]["inputs"] or isinstance(graph[nid]["inputs"]["image"], list):
            raise JobFailed(f"images[{node_ref!r}]: node {nid} ({graph[nid]['class_type']}) does not load a picture")
        try:
            data = read_bytes(path, "picture", MAX_PICTURE_BYTES)
        except FileProblem as e:
            raise JobFailed(f"images[{node_ref!r}]: {e}") from None
        if picture_kind(data[:16]) is None:
            raise JobFailed(f"images[{node_ref!r}]: {path} is not a picture (PNG, JPEG, WebP, GIF, BMP or TIFF)")
        info = client.upload_bytes(f"{job['id']}-{path.name}", data, what=str(path), subfolder=UPLOADS)
        uploaded.append(info["name"])
        graph[nid]["inputs"]["image"] = f"{info['subfolder']}/{info['name']}" if info.get("subfolder") else info["name"]


def remove_uploads(client: Client, names: list[str]) -> None:
    """Remove the job's pictures from the server's input folder (the pack's route,
    ``services/batch_uploads.py``); a server without it, or one that went away, keeps them (logged)."""
    for name in names:
        try:
            status, body = client.post_json(REMOVE_ROUTE, {"name": name})
        except Exception as e:  # the server went away: ComfyUI keeps the file, nothing else is lost
            log.warning("could not remove the upload %s from %s: %r", name, client.base, e)
            return
        if status != 200:
            log.warning("could not remove the upload %s from %s: %s %s", name, client.base, status, body)


def wait_for(client: Client, prompt_id: str, deadline: float, poll: float = 0.1) -> dict:
    while time.time() < deadline:
        hist = client.get_json(f"/history/{urllib.parse.quote(prompt_id)}")
        if prompt_id in hist:
            return hist[prompt_id]
        time.sleep(poll)
    client.post_json("/interrupt", {"prompt_id": prompt_id})
    raise JobFailed(f"the workflow did not finish within the timeout (prompt {prompt_id})")


def server_seconds(entry: dict) -> float | None:
    """The server's own execution time from its /history timestamps (start to success), in seconds."""
    stamps = {m[0]: m[1].get("timestamp") for m in entry.get("status", {}).get("messages", []) if len(m) > 1}
    start, end = stamps.get("execution_start"), stamps.get("execution_success")
    return (end - start) / 1000.0 if start and end else None


def execute(job: dict, out: Path, server: str, timeout: float = 3600.0, extra: dict | None = None) -> dict:
    """Run ``job`` on ``server``; write ``<out>/<id>/`` atomically; return its manifest.

    Raises :class:`JobFailed` (the input's fault: do not retry) or :class:`ServerUnreachable` (retry elsewhere).
    """
    t0 = time.time()
    out = Path(out)
    client = Client(server, timeout=60.0)
    uploaded: list[str] = []
    try:
        with _Guard(client.base):
            return _execute(job, out, client, t0, timeout, extra, uploaded)
    finally:
        remove_uploads(client, uploaded)


def _execute(job: dict, out: Path, client: Client, t0: float, timeout: float, extra, uploaded: list[str]) -> dict:
    graph = build_graph(job, client)
    upload_images(job, graph, client, uploaded)
    status, resp = client.post_json("/prompt", {"prompt": graph, "client_id": client.client_id})
    if status != 200:
        raise JobFailed(format_rejection(status, resp))
    prompt_id = resp["prompt_id"]
    if resp.get("node_errors"):  # part of the graph refused: ComfyUI runs the rest; a partial run is no result
        client.post_json("/queue", {"delete": [prompt_id]})
        client.post_json("/interrupt", {"prompt_id": prompt_id})
        raise JobFailed(format_rejection(status, resp).replace("(200)", "(part of it)"))
    entry = wait_for(client, prompt_id, t0 + timeout)
    st = entry.get("status", {})
    if st.get("status_str") != "success":
        errors = [m[1] for m in st.get("messages", []) if m[0] == "execution_error"]
        if not errors and any(m[0] == "execution_interrupted" for m in st.get("messages", [])):
            raise ServerUnreachable(f"the run was interrupted on {client.base}")
        raise JobFailed(
            "the workflow failed on the server:\n"
            + ("\n".join(format_execution_error(e) for e in errors) or json.dumps(st)[:2000])
        )
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{job['id']}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        files = []
        for nid, node_out in entry.get("outputs", {}).items():
            for ref in node_out.get("images", []):
                q = urllib.parse.urlencode({k: ref.get(k, "") for k in ("filename", "subfolder", "type")})
                name = Path(ref["filename"]).name
                stem, suffix, n = Path(name).stem, Path(name).suffix, 1
                while (tmp / name).exists():
                    name, n = f"{stem}_{n}{suffix}", n + 1
                (tmp / name).write_bytes(client.get(f"/view?{q}"))
                files.append({"file": name, "node": nid, "type": ref.get("type", "")})
        manifest = {
            "id": job["id"],
            "workflow": job.get("workflow_file"),
            "server": client.base,
            "prompt_id": prompt_id,
            "files": files,
            "server_seconds": server_seconds(entry),
            "job_seconds": round(time.time() - t0, 3),
            "finished_at": time.time(),
            **(extra or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        final = job_dir(out, job["id"])
        if (final / MANIFEST).is_file():  # done meanwhile by another copy of the job: keep that one
            shutil.rmtree(tmp)
            return json.loads((final / MANIFEST).read_text())
        if final.exists():  # a folder without manifest (by hand, an older layout): not a result
            shutil.rmtree(final)
        os.replace(tmp, final)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
