import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from comfy_host import ComfyServer, load_in_process  # noqa: E402


@pytest.fixture(scope="session")
def comfy_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("comfy_inproc")
    (root / "input").mkdir()
    (root / "output").mkdir()
    return root / "input", root / "output"


@pytest.fixture(scope="session")
def comfy_nodes(comfy_dirs):
    """ComfyUI's ``nodes`` module with this pack loaded in-process through ComfyUI's loader."""
    return load_in_process(*comfy_dirs)


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory):
    """A live ComfyUI server with only this pack enabled; always stopped at the end."""
    work = tmp_path_factory.mktemp("comfy_server")
    models = {name: work / "models" / name for name in ("depth", "depthanything", "identities", "insightface")}
    for p in models.values():
        p.mkdir(parents=True)
    server = ComfyServer(work, model_folders=models)
    server.start()
    try:
        yield server
    finally:
        server.stop()
