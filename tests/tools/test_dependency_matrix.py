"""The dependency matrix: ``requirements.txt`` declares what the pack imports with lower bounds that
the pinned leg runs, and each leg runs what it says (the pinned versions, or the newest releases the
registry offered when ``scripts/provision.sh`` built the leg)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^([A-Za-z0-9._-]+)\s*(.*)$")
# import name -> distribution that provides it, for everything the pack imports beyond the standard
# library and its host (torch comes with ComfyUI, onnxruntime is the user's choice of CPU or GPU build)
IMPORTS = {
    "numpy": "numpy",
    "safetensors": "safetensors",
    "PIL": "Pillow",
    "OpenEXR": "OpenEXR",
    "cv2": "opencv-python-headless",
    "transformers": "transformers",
    "kornia": "kornia",
    "insightface": "insightface",
}
HOST = {
    "torch",
    "torchvision",
    "comfy",
    "comfy_api",
    "comfy_extras",
    "folder_paths",
    "nodes",
    "server",
    "comfy_execution",
    "node_helpers",
    "latent_preview",
    "onnxruntime",
    "portraitos",
    "aiohttp",
}


def _lines(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, spec = NAME.match(line).groups()
            out.append((name.lower(), spec.replace(" ", "")))
    return out


def _leg() -> str:
    return "newest" if Path(sys.prefix).name == ".venv-newest" else "pinned"


def _installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        pytest.fail(f"{name} is not installed in {sys.prefix}: run `bash scripts/provision.sh`")


def _numbers(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


def test_requirements_have_lower_bounds_the_pinned_leg_runs_and_no_upper_bounds():
    requirements = dict(_lines(REPO / "requirements.txt"))
    pinned = dict(_lines(REPO / "scripts" / "constraints-pinned.txt"))
    for name, spec in requirements.items():
        assert spec.startswith(">=") and "," not in spec and "<" not in spec, (name, spec)
        assert pinned.get(name) == "==" + spec[2:], (
            f"{name}: requirements say {spec}, the pinned leg {pinned.get(name)}"
        )


def test_every_third_party_import_of_the_pack_is_declared():
    declared = {name for name, _ in _lines(REPO / "requirements.txt")}
    found = set()
    for path in [*REPO.glob("engine/**/*.py"), *REPO.glob("nodes/**/*.py"), REPO / "__init__.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    stdlib = set(sys.stdlib_module_names)
    third_party = {m for m in found if m not in stdlib and m not in HOST and m not in ("engine", "nodes")}
    unknown = third_party - set(IMPORTS)
    assert not unknown, f"imports with no declared distribution: {sorted(unknown)}"
    missing = {IMPORTS[m].lower() for m in third_party} - declared
    assert not missing, f"imported but not in requirements.txt: {sorted(missing)}"


def test_this_leg_runs_the_versions_it_stands_for():
    if _leg() == "pinned":
        for name, spec in _lines(REPO / "scripts" / "constraints-pinned.txt"):
            assert _installed(name) == spec[2:], f"pinned leg: {name} {_installed(name)}, expected {spec[2:]}"
        return
    available = Path(sys.prefix) / "newest-available.txt"
    assert available.is_file(), (
        f"{available} missing: the newest leg is built by `DEPS=newest bash scripts/provision.sh`"
    )
    behind = []
    for name, spec in _lines(available):
        newest = spec[2:]
        assert newest != "unknown", f"the registry's newest {name} could not be read when the leg was built"
        if _numbers(_installed(name)) < _numbers(newest):
            behind.append(f"{name} {_installed(name)} < newest {newest}")
    assert not behind, "newest leg is behind the registry (a constraint held it back?): " + "; ".join(behind)


def _requirement_lines() -> list[str]:
    """requirements.txt as ComfyUI-Manager reads it: line by line, each non-comment line handed to
    ``pip install`` on its own."""
    lines = [line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_registry_dependencies_equal_requirements_txt():
    """The Registry publishes pyproject's ``[project].dependencies``; the Manager and ``pip -r``
    install requirements.txt: one list, whichever path the artist takes."""
    import tomllib
    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    published = [Requirement(r) for r in project["dependencies"]]
    declared = [Requirement(line) for line in _requirement_lines()]
    assert [(r.name.lower(), str(r.specifier)) for r in published] == [
        (r.name.lower(), str(r.specifier)) for r in declared
    ]
    assert {r.name.lower() for r in declared} >= {d.lower() for d in IMPORTS.values()}


def test_each_requirement_line_installs_on_its_own():
    """ComfyUI-Manager runs ``pip install <line>`` per line: no inline comments, options or
    continuation lines, and each line one requirement pip parses."""
    from packaging.requirements import Requirement

    for line in _requirement_lines():
        assert "#" not in line and not line.startswith("-") and not line.endswith("\\"), line
        assert str(Requirement(line)).replace(" ", "") == line.replace(" ", ""), line
