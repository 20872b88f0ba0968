"""The last step of scripts/registry_check.sh: ComfyUI (``COMFYUI_DIR``, with the pack unpacked from the
Registry zip in its custom_nodes) started with the Manager-installed Python; every node the zip defines
must load, the default template must run, and its depth must have body relief from the pose model.

    COMFYUI_DIR=/tmp/x/ComfyUI .venv/bin/python scripts/registry_run.py \
        --python /path/python --zip node.zip --work /tmp/x/run
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "workflows" / "api" / "portrait_85mm_f1.8_warm.json"


def main() -> int:
    from portraitos.headless.server import ComfyServer, comfyui_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True, help="the Python ComfyUI runs with (the Manager-installed one)")
    ap.add_argument("--zip", required=True, type=Path, help="the Registry zip the pack was unpacked from")
    ap.add_argument("--work", required=True, type=Path)
    args = ap.parse_args()
    pack = comfyui_dir() / "custom_nodes" / "PortraitOS"
    assert not pack.is_symlink() and (pack / "__init__.py").is_file(), f"{pack} is not the unpacked zip"
    with zipfile.ZipFile(args.zip) as z:
        names = set(z.namelist())
        sources = "".join(z.read(n).decode() for n in names if re.fullmatch(r"nodes/[a-z_]+\.py", n))
    pose = {"models/mediapipe/pose_landmark_full.safetensors", "models/mediapipe/pose_landmark_full.part2.safetensors"}
    assert pose <= names, f"the zip lacks {pose - names}"
    # development code stays out (.comfyignore); the launcher and the headless client ship
    dev_folders = ("tests", "testing", "tools", "benchmarks", "validation", "scripts", ".ci")
    dev = sorted(n for n in names if n.split("/")[0] in dev_folders)
    assert not dev, f"the zip ships development code: {dev[:10]}"
    assert {"headless/server.py", "headless/run_workflow.py"} <= names, "the zip lacks the headless client"
    defined = set(re.findall(r'node_id="([A-Za-z0-9_]+)"', sources))
    assert len(defined) >= 8, defined

    server = ComfyServer(args.work, python=args.python)
    server.start()
    try:
        info = server.get_json("/object_info")
        loaded = {k for k, v in info.items() if "PortraitOS" in v.get("python_module", "")}
        log = server.log_tail(200_000)
        assert defined <= loaded, f"nodes the zip defines but ComfyUI did not load: {sorted(defined - loaded)}\n{log}"
        assert not re.search(r"IMPORT FAILED\)?: \S*PortraitOS", log), log[-4000:]
        graph = json.loads(TEMPLATE.read_text())
        hist, _ = server.run_prompt(graph, timeout=900)
        assert hist["status"]["status_str"] == "success", hist["status"]
        (depth_id,) = [k for k, v in graph.items() if v["class_type"] == "DepthEstimate"]
        readout = hist["outputs"][depth_id]["portraitos"][0]["values"]
        body = readout["people"][0]["relief"]["body"]
        assert body.startswith("BlazePose"), f"no body relief: {body}"
        saved = [k for k, v in graph.items() if v["class_type"] == "SaveImage"]
        assert all(hist["outputs"][k]["images"] for k in saved)
        print(f"{len(loaded)} PortraitOS nodes loaded; default template ran; body: {body}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
