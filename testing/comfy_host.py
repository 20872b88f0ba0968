"""Locating, loading and serving the real ComfyUI used by the tests.

ComfyUI comes from ``scripts/provision.sh`` (``.comfyui/``) or from ``COMFYUI_DIR``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from portraitos.headless.batch.local import comfyui_dir  # the one rule: COMFYUI_DIR, .comfyui-path, .comfyui/
from portraitos.headless.run_workflow import Client, Failure

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "PortraitOS"


def require_comfyui() -> Path:
    d = comfyui_dir()
    if not (d / "main.py").is_file():
        raise RuntimeError(f"ComfyUI not found at {d}: run `bash scripts/provision.sh` first (or set COMFYUI_DIR)")
    link = d / "custom_nodes" / PACK_NAME
    if not link.exists():
        raise RuntimeError(f"{link} missing: run `bash scripts/provision.sh` to link the pack into ComfyUI")
    return d


def frontends() -> list[tuple[str, Path | None]]:
    """The frontend releases the browser tests run against: ``(version, static folder)``, first the one
    ComfyUI pins (installed as a package; folder ``None``, served by default), then each release named in
    ``scripts/frontends.txt`` (unpacked by ``scripts/provision.sh`` into ``.frontends/<version>/``)."""
    from importlib.metadata import version

    found: list[tuple[str, Path | None]] = [(version("comfyui-frontend-package"), None)]
    for line in (REPO / "scripts" / "frontends.txt").read_text().splitlines():
        release = line.split("#", 1)[0].strip()
        if not release:
            continue
        root = REPO / ".frontends" / release
        if not (root / "index.html").is_file():
            raise RuntimeError(
                f"frontend {release} is not unpacked at {root}: run `bash scripts/provision.sh` "
                "(it fetches every release named in scripts/frontends.txt)"
            )
        found.append((release, root))
    return found


_loaded = None


def load_in_process(input_dir: Path, output_dir: Path):
    """Import ComfyUI in this process, load only this pack through ComfyUI's own loader.

    Returns ComfyUI's ``nodes`` module (``nodes.NODE_CLASS_MAPPINGS`` holds the loaded classes).
    """
    global _loaded
    if _loaded is not None:
        import folder_paths

        folder_paths.set_input_directory(str(input_dir))
        folder_paths.set_output_directory(str(output_dir))
        return _loaded
    d = require_comfyui()
    sys.path.insert(0, str(d))
    from comfy.cli_args import args

    args.cpu = True
    args.disable_all_custom_nodes = True
    args.whitelist_custom_nodes = [PACK_NAME]
    import folder_paths

    folder_paths.set_input_directory(str(input_dir))
    folder_paths.set_output_directory(str(output_dir))
    # as ComfyUI's main.py does: its top-level ``utils`` package is imported before ``nodes``, which
    # puts ``comfy/`` first on sys.path (where another ``utils`` module lives)
    import utils.extra_config  # noqa: F401
    import utils.install_util  # noqa: F401

    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    _loaded = nodes
    return nodes


def run_node(cls, **inputs):
    """Execute a loaded V3 node class as a prompt would: every required widget input not given takes
    the default its schema declares (what the editor puts into a new node)."""
    required = cls.INPUT_TYPES().get("required", {})
    for name, spec in required.items():
        if name in inputs or len(spec) < 2:
            continue
        if "default" in spec[1]:
            inputs[name] = spec[1]["default"]
        elif spec[1].get("options"):
            inputs[name] = spec[1]["options"][0]  # a combo without default shows its first option
    return cls.execute(**inputs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """A live ComfyUI server subprocess on 127.0.0.1, driven over HTTP and /ws."""

    def __init__(
        self,
        workdir: Path,
        python: str = sys.executable,
        model_folders: dict[str, Path] | None = None,
        extra_custom_nodes: list[Path] | None = None,
        front_end_root: Path | None = None,
    ):
        self.dir = require_comfyui()
        self.workdir = workdir
        self.input_dir = workdir / "input"
        self.output_dir = workdir / "output"
        self.input_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (workdir / "user").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = Client(self.base)
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "comfyui.log"
        self.model_folders = model_folders or {}
        self.extra_custom_nodes = [Path(p).resolve() for p in extra_custom_nodes or []]  # test-only node packages
        self.front_end_root = front_end_root  # another frontend release's static files; None: ComfyUI's own

    def start(self, timeout: float = 180.0) -> ComfyServer:
        cmd = [
            self.python,
            "main.py",
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--input-directory",
            str(self.input_dir),
            "--output-directory",
            str(self.output_dir),
            "--temp-directory",
            str(self.workdir),
            "--user-directory",
            str(self.workdir / "user"),
            "--database-url",
            "sqlite:///:memory:",
            "--disable-all-custom-nodes",
            "--whitelist-custom-nodes",
            PACK_NAME,
            *[p.name for p in self.extra_custom_nodes],
            "--disable-auto-launch",
        ]
        if self.front_end_root is not None:
            cmd += ["--front-end-root", str(Path(self.front_end_root).resolve())]
        if self.model_folders or self.extra_custom_nodes:
            cfg = self.workdir / "extra_model_paths.yaml"
            lines = ["portraitos_extra:", "    is_default: true"] + [
                f"    {k}: {Path(v).resolve()}" for k, v in self.model_folders.items()
            ]
            for parent in sorted({str(p.parent) for p in self.extra_custom_nodes}):
                lines.append(f"    custom_nodes: {parent}")
            cfg.write_text("\n".join(lines) + "\n")
            cmd += ["--extra-model-paths-config", str(cfg)]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=self.dir, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.get_json("/system_stats")
                return self
            except (Failure, urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # --- HTTP: the headless client's (headless/run_workflow.py), so the tests exercise it too ------------
    def get(self, path: str) -> bytes:
        return self.http.get(path)

    def get_json(self, path: str):
        return self.http.get_json(path)

    def post_json(self, path: str, payload) -> tuple[int, dict]:
        return self.http.post_json(path, payload)

    def upload(self, name: str, data: bytes) -> dict:
        return self.http.upload_bytes(name, data)

    def run_prompt(self, graph: dict, timeout: float = 300.0) -> tuple[dict, list[dict]]:
        """Queue an API-format graph, follow /ws until it finishes; return (history entry, ws messages)."""
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
    def __init__(self, status: int, body: dict):
        super().__init__(f"/prompt answered {status}: {json.dumps(body)[:2000]}")
        self.status = status
        self.body = body
