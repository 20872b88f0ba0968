"""What artists see in the editor: tooltips on every input and output, names the node search finds,
previews and read-outs on the nodes (in-process and in /history), depth pictures from other packs
made metric, the lens a depth assumed, depth files only in DepthLoad, installed face models only,
progress from the first moment of LensBokeh."""

import json
from pathlib import Path

import pytest

from portraitos.testing.comfy_host import frontends
from portraitos.testing.editor_expectations import (
    ALIAS_WORDS,
    ALL_NODE_IDS,
    NODE_IDS,
    SEARCH_WORDS,
    check_search_and_categories,
    check_tooltips,
)

REPO = Path(__file__).resolve().parents[2]


def test_object_info_live_has_tooltips_search_words_and_groups(comfy_server):
    info = comfy_server.get_json("/object_info")
    ours = {k for k, v in info.items() if "PortraitOS" in v.get("python_module", "")}
    assert set(NODE_IDS) <= ours, ours
    check_tooltips(info)
    check_search_and_categories(info)


def test_frontend_search_finds_the_nodes(comfy_server, tmp_path):
    """The frontend's own Fuse.js and node-search options (read from comfyui_frontend_package's JS) over
    the live /object_info: the words artists type find the nodes."""
    import shutil
    import subprocess

    import comfyui_frontend_package

    node = shutil.which("node")
    assert node, "needs Node.js (Debian package nodejs; scripts/install_system_deps.sh installs it)"
    info = comfy_server.get_json("/object_info")
    for node_id in ALL_NODE_IDS:
        assert "portrait" in info[node_id]["search_aliases"], node_id
    defs = tmp_path / "defs.json"
    keep = ("name", "display_name", "search_aliases")
    defs.write_text(json.dumps([{k: v[k] for k in keep if k in v} for v in info.values()]))
    script = REPO / "tools" / "frontend_search.mjs"
    words = [*SEARCH_WORDS, *ALIAS_WORDS]
    pinned = Path(comfyui_frontend_package.__file__).parent / "static"
    for version, static in [(v, root or pinned) for v, root in frontends()]:
        command = [node, str(script), str(static / "assets"), str(defs), *words]
        run = subprocess.run(command, capture_output=True, text=True)
        assert run.returncode == 0, (version, run.stderr[-2000:])
        found = json.loads(run.stdout)
        keys = found["_options"]["keys"]
        assert keys[:2] == ["name", "display_name"], (version, keys)  # what this frontend's search reads
        expected = {**SEARCH_WORDS, **(ALIAS_WORDS if "search_aliases" in keys else {})}
        for word, nodes in expected.items():
            assert set(nodes) <= set(found[word]), (version, word, found[word])


def test_previews_and_readouts_in_history(comfy_server):
    """LoadImage → DepthEstimate (85 mm) → LightingTint → LensBokeh at 35 mm APS-C (overlay on) and,
    from DepthEstimate's depth picture as another pack would give it, DepthFromImage → LensBokeh."""
    from portraitos.validation.samples import write_astronaut

    write_astronaut(comfy_server.input_dir)
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
        "2": {"class_type": "DepthEstimate", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "LightingTint", "inputs": {"image": ["1", 0], "preset": "warm cinematic"}},
        "4": {
            "class_type": "LensBokeh",
            "inputs": {
                "image": ["3", 0],
                "depth": ["2", 0],
                "focal_length_mm": 35.0,
                "sensor": "APS-C 23.5x15.6",
                "lighting": ["3", 1],
                "preview": "result + in-focus overlay",
            },
        },
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "editor"}},
        "6": {
            "class_type": "DepthFromImage",
            "inputs": {"depth_image": ["2", 1], "image": ["1", 0], "far_distance_m": 6.0},
        },
        "7": {"class_type": "LensBokeh", "inputs": {"image": ["1", 0], "depth": ["6", 0]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "editor_di"}},
    }
    # the editor fills in every widget; over the API the schema's defaults are sent
    info = comfy_server.get_json("/object_info")
    for node in graph.values():
        spec = info[node["class_type"]]["input"].get("required", {})
        for name, s in spec.items():
            if name not in node["inputs"] and len(s) > 1 and "default" in s[1]:
                node["inputs"][name] = s[1]["default"]
    hist, _ = comfy_server.run_prompt(graph)
    assert hist["status"]["status_str"] == "success", hist["status"]
    out = hist["outputs"]

    def temps(node):
        return [i for i in out[node].get("images", []) if i["type"] == "temp"]

    assert len(temps("2")) == 2 and len(temps("3")) == 1 and len(temps("4")) == 2 and len(temps("6")) == 2
    depth_readout = out["2"]["portraitos"][0]
    assert depth_readout["values"]["focal_length_mm"] == 85.0 and depth_readout["labels"]["depth"]
    lens_readout = out["4"]["portraitos"][0]
    assert any("focal length 85 mm (here 35 mm)" in w for w in lens_readout["warnings"])
    assert lens_readout["values"]["focus_how"][0] in ("eyes", "focus mask", "nearest central region", "manual")
    assert "K" in out["3"]["portraitos"][0]["labels"]["lighting"]
    di = out["6"]["portraitos"][0]["values"]
    assert di["source"] == "calibrated"
    assert di["subject_distance_from"].startswith(("iris diameter", "interpupillary distance"))
    # the depth from the picture agrees with DepthEstimate's own on the subject's distance
    assert di["subject_distance_m"] == pytest.approx(depth_readout["values"]["subject_distance_m"], rel=0.02)
    assert out["7"]["portraitos"][0]["warnings"] == []
    for node in ("2", "4", "6"):
        for ref in temps(node):
            assert comfy_server.get(f"/view?filename={ref['filename']}&type=temp")[:4] == b"\x89PNG"
