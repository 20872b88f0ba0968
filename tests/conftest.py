"""The test suite, one folder per layer: ``engine/`` (plain torch), ``comfy/`` (ComfyUI in this process),
``live/`` (a live ComfyUI server over HTTP, and the editor in a browser), ``tools/`` (build tools, the
dependency legs, the JS lens maths), ``real/`` (real networks from PyPI: faces on real photos, a real
upscaler). The top-level ``testing/`` (the package ``portraitos.testing``) holds the in-process ComfyUI
loader, the browser host and the tiny models the tests build; the layer markers are set here, from each
test's folder."""

import os
import sys
from pathlib import Path

import pytest
import torch

from portraitos.headless.server import ComfyServer
from portraitos.testing.comfy_host import load_in_process

REPO = Path(__file__).resolve().parents[1]

LAYERS = ("engine", "comfy", "live", "tools", "real")

# renders repeat bit for bit within a run: the thread count a render takes on a shared machine is pinned to
# torch's setting (engine.core.threads; a live server started by a test inherits it)
os.environ.setdefault("PORTRAITOS_CPU_THREADS", str(torch.get_num_threads()))


def pytest_collection_modifyitems(config, items):
    """Each test's layer marker from its folder (``tests/<layer>/...``), so ``-m`` selects layers."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        layer = Path(item.fspath).resolve().relative_to(tests_dir).parts[0]
        if layer not in LAYERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of tests/{{{','.join(LAYERS)}}}/")
        item.add_marker(getattr(pytest.mark, layer))


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
    folders = (
        "depth",
        "depthanything",
        "identities",
        "insightface",
        "checkpoints",
        "ipadapter",
        "instantid",
        "controlnet",
        "loras",
    )
    models = {name: work / "models" / name for name in folders}
    for p in models.values():
        p.mkdir(parents=True)
    # a test-only node package that registers the tiny model configurations (testing/tiny_diffusion_models)
    server = ComfyServer(
        work,
        model_folders=models,
        extra_custom_nodes=[REPO / "testing" / "comfy_test_nodes" / "portraitos_tiny_models"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_report_header(config):
    """Which leg of the dependency matrix runs, and the versions of the pack's dependencies in it."""
    from importlib.metadata import PackageNotFoundError, version

    names = (
        "transformers",
        "numpy",
        "opencv-python-headless",
        "kornia",
        "safetensors",
        "insightface",
        "onnxruntime",
        "Pillow",
        "OpenEXR",
        "comfyui-frontend-package",
        "torch",
    )
    found = []
    for name in names:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    leg = "newest" if Path(sys.prefix).name == ".venv-newest" else "pinned"
    return [f"dependency leg: {leg} ({sys.prefix})", "versions: " + ", ".join(found)]


# --- test axes: where and in which precision engine tests run (kornia's style) -----------------


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="torch device for engine tests: cpu, cuda, cuda:1, mps")
    parser.addoption("--dtype", default="float32", help="dtype for engine tests: float32, float16, bfloat16")


@pytest.fixture(scope="session")
def device(request) -> torch.device:
    """The device engine tests run on (``--device``); skipped, not faked, when it is absent."""
    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda given but no CUDA device is present")
    return dev


@pytest.fixture(scope="session")
def dtype(request) -> torch.dtype:
    """The dtype engine tests compute in (``--dtype``)."""
    name = request.config.getoption("--dtype")
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise pytest.UsageError(f"--dtype must be float32, float16 or bfloat16, not {name!r}") from None
