"""Import the pack under its stable name ``portraitos``, as ComfyUI's copy registers itself.

ComfyUI loads ``custom_nodes/PortraitOS/__init__.py`` as the package ``portraitos``; registering the
same name here first means ``portraitos.engine`` is one module, whoever imports it first, and there is
one ``DepthMap`` class in the process.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "portraitos"


def register_pack():
    """The pack's top-level module, registered under ``portraitos`` (idempotent)."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, REPO / "__init__.py", submodule_search_locations=[str(REPO)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


register_pack()
