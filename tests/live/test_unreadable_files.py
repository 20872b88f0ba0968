"""Unreadable workflows and manifests: exit 2 with a one-line reason, never a traceback, a hang or a memory
blow-up. The headless client (``run_workflow.py``) and the batch runner (``batch.run``), run as a user runs
them: non-UTF-8 bytes, UTF-16, JSON nested too deeply, a directory, a FIFO, ``/dev/zero``. No server is
needed: the files are read before anything is contacted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "headless" / "run_workflow.py"
DEAD = "http://127.0.0.1:9"  # nothing listens: a file problem must be found before the server is asked


def run(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, what the message must say)."""
    folder.mkdir(parents=True, exist_ok=True)
    latin = folder / "latin1.json"
    latin.write_bytes(b'{"1": {"class_type": "LoadImage", "inputs": {"image": "caf\xe9.png"}}}')
    utf16 = folder / "utf16.json"
    utf16.write_bytes('{"1": {"class_type": "LoadImage", "inputs": {}}}'.encode("utf-16"))
    deep = folder / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    fifo = folder / "pipe.json"
    os.mkfifo(fifo)
    return {
        "non-UTF-8": (latin, "is not UTF-8 text: byte 0xe9"),
        "UTF-16": (utf16, "is UTF-16 text; save it as UTF-8"),
        "deep": (deep, "nested too deeply"),
        "directory": (folder, "is a directory, not a file"),
        "FIFO": (fifo, "is a FIFO (named pipe), not a file"),
        "device": (Path("/dev/zero"), "is a device, not a file"),
    }


@pytest.mark.parametrize("case", ["non-UTF-8", "UTF-16", "deep", "directory", "FIFO", "device"])
def test_run_workflow_refuses_an_unreadable_workflow_with_exit_2(tmp_path, case):
    path, says = bad_files(tmp_path / "files")[case]
    r = run(CLIENT, path, "--server", DEAD, "--out", tmp_path / "out", timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert says in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("case", ["non-UTF-8", "UTF-16", "directory", "FIFO", "device"])
def test_run_workflow_refuses_an_unreadable_picture_with_exit_2(tmp_path, case):
    path, says = bad_files(tmp_path / "files")[case]
    wf = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"
    r = run(CLIENT, wf, "--image", f"1={path}", "--server", DEAD, "--out", tmp_path / "out", timeout=30)
    if case in ("non-UTF-8", "UTF-16"):  # a regular file: its content is the server's to judge
        assert r.returncode == 3, r.stderr[-2000:]
        return
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("case", ["non-UTF-8", "UTF-16", "deep", "directory", "FIFO", "device"])
def test_batch_runner_refuses_an_unreadable_manifest_with_exit_2(tmp_path, case):
    path, says = bad_files(tmp_path / "files")[case]
    if case == "deep":  # one line nested too deeply
        path = tmp_path / "deep.jsonl"
        path.write_text('{"id": "a", "workflow": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    cmd = ["-m", "portraitos.headless.batch.run", path, "--out", tmp_path / "out", "--broker", "redis://127.0.0.1:9/0"]
    r = run(*cmd, timeout=30)
    assert r.returncode == 2, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert says in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_a_manifests_unreadable_workflow_fails_its_job_only(tmp_path):
    from portraitos.headless.batch.manifest import read_manifest

    files = bad_files(tmp_path / "files")
    good = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"
    lines = [f'{{"id": "ok", "workflow": "{good}"}}']
    lines += [f'{{"id": "j{i}", "workflow": "{p}"}}' for i, (p, _) in enumerate(files.values())]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    jobs = {j["id"]: j for j in read_manifest(manifest)}
    assert "error" not in jobs["ok"]
    for i, (_p, says) in enumerate(files.values()):
        assert says in jobs[f"j{i}"]["error"], jobs[f"j{i}"]["error"]


def test_a_workflow_larger_than_the_bound_is_refused(tmp_path, monkeypatch):
    from portraitos.headless import files

    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 600 + "0]")
    with pytest.raises(files.FileProblem, match="larger than"):
        files.read_json(big, "workflow file", limit=1000)
    assert len(files.read_json(big, "workflow file", limit=2000)) == 601
