"""The real ComfyUI the tests use, loaded in this process; the frontend releases the browser tests serve.

ComfyUI comes from ``scripts/provision.sh`` (``.comfyui/``) or from ``COMFYUI_DIR``
(:func:`portraitos.headless.server.comfyui_dir`). Live servers are the one launcher's,
:class:`portraitos.headless.server.ComfyServer`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from portraitos.headless.server import PACK_NAME, require_comfyui

REPO = Path(__file__).resolve().parents[1]


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
