"""headless/run_workflow.py, the headless client, run as a user runs it against a live ComfyUI server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portraitos.headless.server import free_port

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "headless" / "run_workflow.py"
PORTRAIT = "portrait_85mm_f1.8_warm.json"
API = REPO / "workflows" / "api" / PORTRAIT
UI = REPO / "workflows" / PORTRAIT


def client(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CLIENT), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("photos") / "my selfie.png"
    Image.open(REPO / "example_inputs" / "astronaut.jpg").resize((160, 160), Image.LANCZOS).save(p)
    return p


def _saved(out: Path) -> list[Path]:
    return sorted(out.glob("portrait_85mm_f1.8_warm-cinematic*.png"))


def test_api_workflow_with_an_uploaded_photo_and_a_changed_input(comfy_server, photo, tmp_path):
    r = client(
        API, "--image", f"1={photo}", "--set", "4.f_number=2.8", "--server", comfy_server.base, "--out", tmp_path
    )
    assert r.returncode == 0, r.stderr
    (saved,) = _saved(tmp_path)
    assert Image.open(saved).size == (160, 160)
    # the portrait, and at least the depth, matte and in-focus previews (nodes may add their own)
    assert len(list(tmp_path.glob("*.png"))) >= 4
    assert str(saved) in r.stdout and "queued prompt" in r.stderr
    assert (comfy_server.input_dir / photo.name).is_file()  # uploaded through /upload/image


def test_a_templates_old_name_runs_the_renamed_workflow(comfy_server, photo, tmp_path):
    """Scripts written before the templates were shortened keep working: the old file name finds the new."""
    old = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm-cinematic.json"
    assert not old.exists()
    r = client(old, "--image", f"1={photo}", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"now called {PORTRAIT}" in r.stderr
    assert len(_saved(tmp_path)) == 1


def test_editor_workflow_converted_through_object_info_and_polling(comfy_server, photo, tmp_path):
    """A UI-format file, and the polling path (as without websocket-client)."""
    r = client(UI, "--image", f"LoadImage={photo}", "--server", comfy_server.base, "--out", tmp_path, "--no-websocket")
    assert r.returncode == 0, r.stderr
    (saved,) = _saved(tmp_path)
    # the same graph queued as its API twin gives the same picture
    r2 = client(API, "--image", f"1={photo}", "--server", comfy_server.base, "--out", tmp_path / "api")
    assert r2.returncode == 0, r2.stderr
    (saved2,) = _saved(tmp_path / "api")
    assert np.array_equal(np.asarray(Image.open(saved)), np.asarray(Image.open(saved2)))


def test_polling_without_websocket_client_installed(comfy_server, photo, tmp_path):
    """websocket-client missing: the client still runs (polling /history)."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "websocket.py").write_text("raise ImportError('websocket-client is not installed')\n")
    args = [str(API), "--image", f"1={photo}", "--server", comfy_server.base, "--out", str(tmp_path / "o")]
    env = {**os.environ, "PYTHONPATH": str(blocker)}  # its websocket.py shadows the installed package
    r = subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )
    assert r.returncode == 0, r.stderr
    assert len(_saved(tmp_path / "o")) == 1


def test_invalid_graph_prints_the_servers_node_errors(comfy_server, photo, tmp_path):
    r = client(
        API, "--image", f"1={photo}", "--set", '4.image=["2", 0]', "--server", comfy_server.base, "--out", tmp_path
    )
    assert r.returncode == 1
    # a DEPTH output linked into LensBokeh's IMAGE input
    assert "refused" in r.stderr and "node 4 (LensBokeh)" in r.stderr and "mismatch" in r.stderr, r.stderr
    assert not list(tmp_path.glob("*.png"))


def test_image_missing_on_the_server(comfy_server, tmp_path):
    r = client(API, "--set", "1.image=not_uploaded.png", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 1
    assert "node 1 (LoadImage)" in r.stderr and "not_uploaded.png" in r.stderr


def test_missing_input_file(comfy_server, tmp_path):
    r = client(API, "--image", f"1={tmp_path / 'nope.jpg'}", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 2 and "nope.jpg does not exist" in r.stderr


def test_bad_arguments_name_what_is_wrong(comfy_server, tmp_path):
    r = client(API, "--set", "4.no_such_input=1", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 2 and "no input 'no_such_input'" in r.stderr and "f_number" in r.stderr
    r = client(API, "--set", "f_number=1", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 2 and "NODE.INPUT=VALUE" in r.stderr
    r = client(API, "--image", "PreviewImage=x.png", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 2
    r = client(tmp_path / "missing.json", "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 2 and "missing.json does not exist" in r.stderr


def test_failure_while_running_prints_the_execution_error(comfy_server, tmp_path):
    """A graph the server accepts but that fails in a node (no face in the photo): the node's error."""
    from portraitos.testing.tiny_face_models import build_pack

    build_pack(comfy_server.model_folders["insightface"], "antelopev2")
    black = tmp_path / "black.png"
    Image.new("RGB", (512, 512)).save(black)
    wf = REPO / "workflows" / "api" / "identity_create.json"
    r = client(
        wf, "--image", f"1={black}", "--set", "2.name=exec-error", "--server", comfy_server.base, "--out", tmp_path
    )
    assert r.returncode == 1, r.stderr
    assert "failed on the server" in r.stderr and "node 2 (IdentityLoader)" in r.stderr
    assert "no face found" in r.stderr


def test_unknown_node_type_in_an_editor_workflow(comfy_server, tmp_path):
    ui = (UI.read_text()).replace('"type": "LightingTint"', '"type": "SomeoneElsesNode"')
    path = tmp_path / "other.json"
    path.write_text(ui)
    r = client(path, "--server", comfy_server.base, "--out", tmp_path)
    assert r.returncode == 1 and "SomeoneElsesNode" in r.stderr and "install" in r.stderr


def test_server_down(tmp_path):
    r = client(API, "--server", f"http://127.0.0.1:{free_port()}", "--out", tmp_path, timeout=60)
    assert r.returncode == 3 and "cannot reach ComfyUI" in r.stderr


def test_help_documents_the_exit_status():
    r = client("--help")
    assert r.returncode == 0 and "--image NODE=PATH" in r.stdout and "server unreachable" in r.stdout


def test_rejections_print_each_message_once_and_linked_images_are_refused():
    from portraitos.headless.run_workflow import EXIT_USAGE, Failure, apply_images, format_rejection

    message = "Custom validation failed for node"
    body = {
        "error": {"message": "Prompt outputs failed validation"},
        "node_errors": {
            "4": {
                "class_type": "LensBokeh",
                "errors": [
                    {"message": message, "details": f"{name} - f_number must be a finite number, got nan"}
                    for name in ("image", "depth", "f_number", "sensor")
                ],
            }
        },
    }
    text = format_rejection(400, body)
    assert text.count("f_number must be a finite number") == 1, text
    assert "[inputs: image, depth, f_number, sensor]" in text
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
        "4": {"class_type": "LensBokeh", "inputs": {"image": ["1", 0]}},
    }
    picture = Path(__file__)  # any existing file: the check comes before the upload
    with pytest.raises(Failure, match="takes its image from node 1") as e:
        apply_images(graph, [f"4={picture}"], client=None)
    assert e.value.code == EXIT_USAGE
