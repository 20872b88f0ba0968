"""The one ComfyUI launcher: a ComfyUI server subprocess with this pack, on 127.0.0.1.

The demo (``scripts/demo.sh``), the local batch (:mod:`.batch.local`), the live tests, the benchmarks and
the tools all start ComfyUI through :class:`ComfyServer`, so the command line is written once::

    from portraitos.headless.server import ComfyServer

    server = ComfyServer(Path("work")).start()  # input/, output/, user/ and comfyui.log under work/
    try:
        hist, messages = server.run_prompt(graph)
    finally:
        server.stop()

ComfyUI comes from ``COMFYUI_DIR``, else the folder ``scripts/provision.sh`` recorded in ``.comfyui-path``,
else ``.comfyui/``; the pack must be in its ``custom_nodes`` as ``PortraitOS`` (provision links it there),
and it is the only custom node package loaded (plus any ``extra_custom_nodes``). Standard library only
(no torch, no ComfyUI import): ComfyUI runs in the child process, with ``python``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path

from .run_workflow import EXIT_USAGE, Client, Failure

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "PortraitOS"  # the pack's folder name in ComfyUI's custom_nodes


def comfyui_dir() -> Path:
    """The ComfyUI to run: ``COMFYUI_DIR``, else the one ``scripts/provision.sh`` recorded, else ``.comfyui/``."""
    env = os.environ.get("COMFYUI_DIR")
    if env:
        return Path(env).resolve()
    recorded = REPO / ".comfyui-path"
    if recorded.is_file():
        return Path(recorded.read_text().strip())
    return REPO / ".comfyui"


def require_comfyui() -> Path:
    """:func:`comfyui_dir`, checked: it has ``main.py`` and the pack in ``custom_nodes/PortraitOS``.
    Raises :class:`Failure` (exit status 2) naming what to run otherwise."""
    d = comfyui_dir()
    if not (d / "main.py").is_file():
        raise Failure(
            f"ComfyUI not found at {d}: run `bash scripts/provision.sh` first (or set COMFYUI_DIR)", EXIT_USAGE
        )
    link = d / "custom_nodes" / PACK_NAME
    if not link.exists():
        raise Failure(f"{link} missing: run `bash scripts/provision.sh` to link the pack into ComfyUI", EXIT_USAGE)
    return d


def free_port() -> int:
    """A TCP port on 127.0.0.1 that no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 20.0) -> None:
    """Signal a child started with ``start_new_session=True`` (its whole process group), wait ``wait`` seconds,
    then SIGKILL it. Nothing happens when it has already exited."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=wait)
    except (subprocess.TimeoutExpired, ProcessLookupError, PermissionError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(timeout=10)


class ComfyServer:
    """A live ComfyUI server subprocess on 127.0.0.1 with this pack, driven over HTTP and /ws.

    ``workdir`` holds its ``input/``, ``output/``, ``user/``, temporary files and ``comfyui.log``. ``cpu``:
    ``--cpu``; ``gpu``: ``CUDA_VISIBLE_DEVICES`` for the child. ``model_folders``: ComfyUI model folder
    name → folder, the default for that kind (an ``extra_model_paths.yaml`` in ``workdir``).
    ``extra_custom_nodes``: further custom node package folders loaded beside the pack (test-only ones).
    ``front_end_root``: another frontend release's static files (``None``: ComfyUI's own).
    """

    def __init__(
        self,
        workdir: Path,
        python: str = sys.executable,
        *,
        cpu: bool = True,
        gpu: str | None = None,
        model_folders: dict[str, Path] | None = None,
        extra_custom_nodes: list[Path] | None = None,
        front_end_root: Path | None = None,
    ):
        self.dir = require_comfyui()
        self.workdir = Path(workdir)
        self.input_dir = self.workdir / "input"
        self.output_dir = self.workdir / "output"
        for sub in (self.input_dir, self.output_dir, self.workdir / "user"):
            sub.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = Client(self.base)
        self.python = python
        self.cpu, self.gpu = cpu, gpu
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "comfyui.log"
        self.model_folders = dict(model_folders or {})
        self.extra_custom_nodes = [Path(p).resolve() for p in extra_custom_nodes or []]
        self.front_end_root = front_end_root

    def command(self) -> list[str]:
        """ComfyUI's command line (run in :attr:`dir`); writes ``extra_model_paths.yaml`` when needed."""
        w = self.workdir
        cmd = [self.python, "main.py", "--listen", "127.0.0.1", "--port", str(self.port),
               "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
               "--temp-directory", str(w), "--user-directory", str(w / "user"),
               "--database-url", "sqlite:///:memory:", "--disable-all-custom-nodes",
               "--whitelist-custom-nodes", PACK_NAME, *[p.name for p in self.extra_custom_nodes],
               "--disable-auto-launch"]  # fmt: skip
        if self.cpu:
            cmd.append("--cpu")
        if self.front_end_root is not None:
            cmd += ["--front-end-root", str(Path(self.front_end_root).resolve())]
        if self.model_folders or self.extra_custom_nodes:
            cfg = w / "extra_model_paths.yaml"
            lines = ["portraitos_extra:", "    is_default: true"] + [
                f"    {k}: {Path(v).resolve()}" for k, v in self.model_folders.items()
            ]
            for parent in sorted({str(p.parent) for p in self.extra_custom_nodes}):
                lines.append(f"    custom_nodes: {parent}")
            cfg.write_text("\n".join(lines) + "\n")
            cmd += ["--extra-model-paths-config", str(cfg)]
        return cmd

    def launch(self) -> ComfyServer:
        """Start the process and return at once (:meth:`wait_ready` waits for it to answer)."""
        env = dict(os.environ)
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(), cwd=self.dir, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def wait_ready(self, timeout: float = 300.0) -> ComfyServer:
        """Until ``/system_stats`` answers; RuntimeError with the log's tail if the process exits or
        ``timeout`` seconds pass (the process is then still running: :meth:`stop` it)."""
        assert self.proc is not None, "launch() first"
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"ComfyUI exited with {self.proc.returncode} (log: {self.log_path}):\n{self.log_tail()}"
                )
            try:
                self.get_json("/system_stats")
                return self
            except (Failure, urllib.error.URLError, ConnectionError, OSError, ValueError):
                time.sleep(0.5)
        raise RuntimeError(f"ComfyUI did not answer within {timeout}s (log: {self.log_path}):\n{self.log_tail()}")

    def start(self, timeout: float = 180.0) -> ComfyServer:
        """:meth:`launch` and :meth:`wait_ready`; stopped again if it does not come up."""
        self.launch()
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL, as a machine that dies."""
        stop_process(self.proc, signal.SIGKILL, wait=10)

    def stop(self) -> None:
        """SIGTERM to its process group (SIGKILL after 20 s); closes the log."""
        stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()

    def log_tail(self, n: int = 4000) -> str:
        """The last ``n`` characters of ComfyUI's output."""
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # --- HTTP: the headless client's (headless/run_workflow.py) ------------------------------------------
    def get(self, path: str) -> bytes:
        return self.http.get(path)

    def get_json(self, path: str):
        return self.http.get_json(path)

    def post_json(self, path: str, payload) -> tuple[int, dict]:
        return self.http.post_json(path, payload)

    def upload(self, name: str, data: bytes) -> dict:
        return self.http.upload_bytes(name, data)

    def run_prompt(self, graph: dict, timeout: float = 300.0) -> tuple[dict, list[dict]]:
        """Queue an API-format graph, follow /ws until it finishes; return (history entry, ws messages).
        Needs ``websocket-client``; :class:`PromptRejected` when ComfyUI refuses the graph."""
        import websocket  # websocket-client

        client_id = uuid.uuid4().hex
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={client_id}", timeout=timeout)
        try:
            status, resp = self.post_json("/prompt", {"prompt": graph, "client_id": client_id})
            if status != 200:
                raise PromptRejected(status, resp)
            pid = resp["prompt_id"]
            messages = []
            deadline = time.time() + timeout
            while time.time() < deadline:
                raw = ws.recv()
                if isinstance(raw, bytes):
                    continue  # binary preview frames
                msg = json.loads(raw)
                messages.append(msg)
                data = msg.get("data", {})
                if data.get("prompt_id") not in (None, pid):
                    continue
                if msg["type"] in ("execution_success", "execution_error", "execution_interrupted"):
                    break
                if msg["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == pid:
                    break
            else:
                raise TimeoutError(f"prompt {pid} did not finish in {timeout}s")
        finally:
            ws.close()
        # the history entry is stored right after the final message; poll briefly for it
        for _ in range(200):
            hist = self.get_json(f"/history/{pid}")
            if pid in hist:
                return hist[pid], messages
            time.sleep(0.05)
        raise TimeoutError(f"prompt {pid} finished but has no /history entry; last messages: {messages[-3:]}")


class PromptRejected(Exception):
    """ComfyUI answered /prompt with an error status (``status``, the JSON ``body``: node_errors …)."""

    def __init__(self, status: int, body: dict):
        super().__init__(f"/prompt answered {status}: {json.dumps(body)[:2000]}")
        self.status = status
        self.body = body
