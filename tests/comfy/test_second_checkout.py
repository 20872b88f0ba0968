"""Two checkouts of the pack in one ComfyUI: the second, loaded by ComfyUI's own loader into the process
that holds the first, is refused loudly (an ImportError naming both folders, in ComfyUI's log as a
failed custom node), and the first one's nodes and engine stay as they were. The same folder reached
through another link (ComfyUI's ``custom_nodes/PortraitOS`` beside the venv's ``portraitos``) is one
checkout, not two: the in-process fixture loads it that way."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _second_checkout(root: Path) -> Path:
    """A second copy of the pack in its own folder: its own ``__init__.py`` (the file ComfyUI imports)
    and the packages beside it."""
    copy = root / "custom_nodes" / "PortraitOS-second"
    copy.mkdir(parents=True)
    shutil.copy2(REPO / "__init__.py", copy / "__init__.py")
    for sub in ("engine", "nodes", "services", "headless", "js", "models", "workflows", "example_inputs"):
        (copy / sub).symlink_to(REPO / sub, target_is_directory=True)
    shutil.copy2(REPO / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_a_second_checkout_is_refused_naming_both_folders(comfy_nodes, tmp_path, caplog):
    first = sys.modules["portraitos"]
    lens_before = comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"]
    copy = _second_checkout(tmp_path)
    module_name = str(copy).replace(".", "_x_")  # ComfyUI's name for a custom node folder
    try:
        with caplog.at_level(logging.WARNING):
            loaded = asyncio.run(comfy_nodes.load_custom_node(str(copy)))
    finally:
        sys.modules.pop(module_name, None)
    assert loaded is False, "ComfyUI loaded a second PortraitOS checkout into a process that has one"
    log = caplog.text
    assert "ImportError" in log and "PortraitOS is installed twice" in log, log[-3000:]
    assert str(copy.resolve()) in log, f"the refused folder is not named:\n{log[-3000:]}"
    assert os.path.realpath(REPO) in log, f"the folder that holds 'portraitos' is not named:\n{log[-3000:]}"
    assert "Remove or disable one of the two folders" in log
    # nothing of the first one changed
    assert sys.modules["portraitos"] is first
    assert comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"] is lens_before
    assert lens_before.__module__ == "portraitos.nodes.lens_bokeh"


def test_the_same_checkout_through_another_link_is_not_refused(comfy_nodes, tmp_path):
    """A link to this checkout (as ``custom_nodes/PortraitOS`` is) imports its ``__init__.py`` under another
    module name without complaint: the folders are one once links are resolved."""
    import importlib.util

    link = tmp_path / "PortraitOS-link"
    link.symlink_to(REPO, target_is_directory=True)
    name = "portraitos_link_" + tmp_path.name.replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, link / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # raises ImportError if it took the link for a second checkout
        assert module._folder(module) == os.path.realpath(REPO)
        assert sys.modules["portraitos"]._folder(sys.modules["portraitos"]) == os.path.realpath(REPO)
    finally:
        sys.modules.pop(name, None)
