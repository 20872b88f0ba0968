"""One import scheme: with the pack loaded through ComfyUI's own loader in this process (as a test has
also imported it as ``portraitos``), every pack module exists once, under ``portraitos.…``."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_pack_module_is_loaded_once_under_portraitos(comfy_nodes):
    assert "LensBokeh" in comfy_nodes.NODE_CLASS_MAPPINGS
    by_file: dict[Path, list[str]] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file).resolve()
        inside = path.is_file() and REPO in path.parents and not {".venv", ".venv-newest", ".comfyui"} & set(path.parts)
        if inside and path.name != "conftest.py" and not path.name.startswith("test_"):
            by_file.setdefault(path, []).append(name)
    top = REPO / "__init__.py"
    repeated = {str(p.relative_to(REPO)): names for p, names in by_file.items() if len(names) > 1 and p != top}
    assert not repeated, f"pack modules loaded under more than one name: {repeated}"
    # ComfyUI loads the folder's __init__.py under its own module name; it only delegates to portraitos.nodes
    outside = [n for p, names in by_file.items() if p != top for n in names if not n.startswith("portraitos")]
    assert not outside, f"pack modules imported outside the portraitos package: {outside}"
    node_module = sys.modules[comfy_nodes.NODE_CLASS_MAPPINGS["LensBokeh"].__module__]
    assert node_module.__name__ == "portraitos.nodes.lens_bokeh"
