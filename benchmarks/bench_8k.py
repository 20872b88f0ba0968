"""Workflow 2 (bring your own photo) at 7680×4320 on a live ComfyUI server: time and peak memory per node.

    .venv/bin/python benchmarks/bench_8k.py [--workflow NAME] [--width 7680 --height 4320] [--baseline 1920x1080]

Runs the shipped API workflow (default ``portrait_85mm_f1.8_warm``) as a user's server runs it
(``main.py --cpu``, this pack only) on an 8K photo made from the sample portrait (scaled to the frame
height, edges extended to the width). Per node: wall time between the server's ``executing`` messages
and the peak resident memory of the server process while that node ran (sampled every 20 ms), above the
server's idle memory before the prompt. The same workflow at ``--baseline`` size runs first on the same
server, so the 8K numbers read as ratios against it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
from PIL import Image

from portraitos.headless.server import ComfyServer

REPO = Path(__file__).resolve().parents[1]

GB = 1024**3


def make_photo(path: Path, width: int, height: int) -> None:
    src = Image.open(REPO / "example_inputs" / "astronaut.jpg").convert("RGB")
    side = min(width, height)
    face = src.resize((side, side), Image.LANCZOS)
    canvas = Image.new("RGB", (width, height))
    x0, y0 = (width - side) // 2, (height - side) // 2
    canvas.paste(face, (x0, y0))
    if x0:  # extend the edge columns outwards (a wall, not black bars)
        canvas.paste(face.crop((0, 0, 1, side)).resize((x0, side)), (0, y0))
        canvas.paste(face.crop((side - 1, 0, side, side)).resize((width - x0 - side, side)), (x0 + side, y0))
    canvas.save(path, quality=95)


class RssSampler:
    """Peak RSS of a process tree, attributed to the node that was executing."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.node: str | None = None
        self.peaks: dict[str, int] = {}
        self.overall = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = self.proc.memory_info().rss
        for c in self.proc.children(recursive=True):
            try:
                total += c.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            r = self.rss()
            self.overall = max(self.overall, r)
            if self.node is not None:
                self.peaks[self.node] = max(self.peaks.get(self.node, 0), r)
            time.sleep(0.02)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def run(server: ComfyServer, graph: dict) -> tuple[list[tuple[str, str, float, int]], float, int, int]:
    """[(node id, class, seconds, peak RSS bytes)], total seconds, idle RSS, overall peak RSS."""
    import websocket

    client_id = uuid.uuid4().hex
    ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/ws?clientId={client_id}", timeout=3600)
    sampler = RssSampler(server.proc.pid)
    idle = sampler.rss()
    rows = []
    with sampler:
        status, resp = server.post_json("/prompt", {"prompt": graph, "client_id": client_id})
        if status != 200 or resp.get("node_errors"):
            raise RuntimeError(json.dumps(resp)[:2000])
        pid = resp["prompt_id"]
        t_start = time.perf_counter()
        current, t_node = None, t_start
        while True:
            raw = ws.recv()
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            data = msg.get("data", {})
            if data.get("prompt_id") not in (None, pid):
                continue
            if msg["type"] == "execution_error":
                raise RuntimeError(f"{data.get('node_type')}: {data.get('exception_message')}")
            if msg["type"] == "executing":
                now = time.perf_counter()
                if current is not None:
                    rows.append((current, graph[current]["class_type"], now - t_node, sampler.peaks.get(current, 0)))
                current, t_node = data.get("node"), now
                if current is not None:  # nodes shorter than a sampling interval still get one sample
                    sampler.peaks[current] = sampler.rss()
                sampler.node = current
                if current is None:
                    break
        total = time.perf_counter() - t_start
    ws.close()
    return rows, total, idle, sampler.overall


def report(label: str, rows, total: float, idle: int, peak: int) -> None:
    print(f"\n{label}: {total:.1f} s in all; server memory {idle / GB:.2f} GB idle, peak {peak / GB:.2f} GB")
    print(f"  {'node':<4} {'class':<14} {'seconds':>8} {'peak RSS GB':>12} {'above idle GB':>14}")
    for nid, ct, dt, rss in rows:
        print(f"  {nid:<4} {ct:<14} {dt:>8.2f} {rss / GB:>12.2f} {(rss - idle) / GB:>14.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workflow", default="portrait_85mm_f1.8_warm")
    ap.add_argument("--width", type=int, default=7680)
    ap.add_argument("--height", type=int, default=4320)
    ap.add_argument("--baseline", default="1920x1080", help="WxH run first for ratios ('' to skip)")
    args = ap.parse_args(argv)
    graph = json.loads((REPO / "workflows" / "api" / f"{args.workflow}.json").read_text())
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    print(f"commit {commit.stdout.strip()}; {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / GB:.0f} GB")
    sizes = ([tuple(map(int, args.baseline.split("x")))] if args.baseline else []) + [(args.width, args.height)]
    with tempfile.TemporaryDirectory(prefix="portraitos-8k-") as tmp:
        server = ComfyServer(Path(tmp)).start()
        try:
            results = {}
            for w, h in sizes:
                name = f"bench_{w}x{h}.jpg"
                make_photo(server.input_dir / name, w, h)
                g = json.loads(json.dumps(graph))
                g["1"]["inputs"]["image"] = name
                rows, total, idle, peak = run(server, g)
                results[(w, h)] = rows, total
                report(f"{args.workflow} at {w}x{h}", rows, total, idle, peak)
            if len(sizes) == 2:
                (b_rows, b_total), (rows, total) = results[sizes[0]], results[sizes[1]]
                px = (sizes[1][0] * sizes[1][1]) / (sizes[0][0] * sizes[0][1])
                print(
                    f"\n{sizes[1][0]}x{sizes[1][1]} vs {sizes[0][0]}x{sizes[0][1]} ({px:.0f}x the pixels): time ratio"
                )
                base = {nid: dt for nid, _ct, dt, _r in b_rows}
                for nid, ct, dt, _r in rows:
                    print(f"  {nid:<4} {ct:<14} {dt / max(base.get(nid, 1e-9), 1e-9):>8.1f}x")
                print(f"  all                 {total / b_total:>8.1f}x")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
