"""A batch manifest's pictures: under the pictures root the operator names (links followed), real pictures
(by their first bytes), and removed from the ComfyUI server once their job has ended, whether it succeeded
or failed. Jobs run on a live ComfyUI server (``job.execute``, what a batch worker runs)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from portraitos.headless.batch.job import UPLOADS, JobFailed, execute
from portraitos.headless.batch.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"


def selfie(path: Path, x: int = 80) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(REPO / "example_inputs" / "astronaut.jpg").crop((x, 20, x + 160, 180)).save(path)
    return path


def manifest_with(folder: Path, images: dict[str, str]) -> Path:
    lines = [json.dumps({"id": job_id, "workflow": str(WORKFLOW), "images": {"1": p}}) for job_id, p in images.items()]
    m = folder / "m.jsonl"
    m.write_text("\n".join(lines) + "\n")
    return m


def test_pictures_outside_the_root_or_not_pictures_fail_their_job(tmp_path):
    batch = tmp_path / "batch"
    secret = tmp_path / "secret" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("the server's password\n")
    selfie(batch / "ok.png")
    (batch / "text.png").write_text("not a picture\n")
    (batch / "folder.png").mkdir()
    (batch / "link.png").symlink_to(secret)
    jobs = {
        "ok": "ok.png",
        "escape": "../secret/secret.txt",
        "absolute": str(secret),
        "text": "text.png",
        "folder": "folder.png",
        "link": "link.png",
    }
    got = {j["id"]: j for j in read_manifest(manifest_with(batch, jobs))}
    assert "error" not in got["ok"]
    for job_id in ("escape", "absolute", "link"):
        assert "outside the pictures root" in got[job_id]["error"], got[job_id]
    assert "is not a picture" in got["text"]["error"]
    assert "is a directory, not a file" in got["folder"]["error"] and "does not exist" not in got["folder"]["error"]
    # the operator names a wider root: the secret is inside it, but it is still no picture
    got = {j["id"]: j for j in read_manifest(manifest_with(batch, jobs), pictures_root=tmp_path)}
    assert "is not a picture" in got["escape"]["error"] and "is not a picture" in got["link"]["error"]


def uploads(server) -> list[str]:
    folder = server.input_dir / UPLOADS
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_jobs_pictures_are_removed_from_the_server_after_it(comfy_server, tmp_path):
    ok = selfie(tmp_path / "pics" / "me.png")
    job = {"id": "pic-ok", "workflow": json.loads(WORKFLOW.read_text()), "images": {"1": str(ok)}, "set": []}
    m = execute(job, tmp_path / "out", comfy_server.base, timeout=300)
    assert m["files"] and (tmp_path / "out" / "pic-ok" / "manifest.json").is_file()
    assert not [n for n in uploads(comfy_server) if n.startswith("pic-ok")]
    # the server ran the upload (in the pack's subfolder), and /view no longer serves it
    prompt = comfy_server.get_json(f"/history/{m['prompt_id']}")[m["prompt_id"]]["prompt"][2]
    assert prompt["1"]["inputs"]["image"] == f"{UPLOADS}/pic-ok-me.png"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{comfy_server.base}/view?filename=pic-ok-me.png&subfolder={UPLOADS}&type=input")
    assert e.value.code == 404
    # a job refused by the server: its picture is removed all the same
    bad = {**job, "id": "pic-refused", "set": ["4.f_number=1000"]}
    with pytest.raises(JobFailed, match="f_number"):
        execute(bad, tmp_path / "out", comfy_server.base, timeout=300)
    assert not [n for n in uploads(comfy_server) if n.startswith("pic-")]


def test_a_picture_swapped_for_another_file_after_the_manifest_is_not_uploaded(comfy_server, tmp_path):
    swapped = tmp_path / "pics" / "swapped.png"
    swapped.parent.mkdir(parents=True)
    swapped.write_text("no longer a picture\n")
    job = {"id": "pic-swap", "workflow": json.loads(WORKFLOW.read_text()), "images": {"1": str(swapped)}}
    with pytest.raises(JobFailed, match="is not a picture"):
        execute(job, tmp_path / "out", comfy_server.base, timeout=300)
    assert not [n for n in uploads(comfy_server) if n.startswith("pic-swap")]
    assert not list(comfy_server.input_dir.rglob("pic-swap*"))


def test_the_removal_route_names_nothing_outside_its_folder(comfy_server):
    outside = comfy_server.input_dir / "keep.png"
    selfie(outside)
    for name in ("../keep.png", "/etc/passwd", ".hidden", "a/b.png", ""):
        req = urllib.request.Request(
            f"{comfy_server.base}/portraitos/batch/remove_upload",
            data=json.dumps({"name": name}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 400, name
    assert outside.is_file()
