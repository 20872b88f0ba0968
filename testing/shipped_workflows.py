"""The shipped workflow files the tests read, and the layout rules every template keeps."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "workflows"
UI_FILES = sorted(TEMPLATES.glob("*.json"))
API_FILES = sorted((TEMPLATES / "api").glob("*.json"))
PORTRAITS = [p for p in API_FILES if p.stem.startswith("portrait_")]
SELFIE = [p for p in API_FILES if p.stem.startswith("selfie_")]


def node_info(comfy_nodes):
    """``class_type -> /object_info entry`` for the classes ComfyUI loaded in this process."""
    from portraitos.headless.workflow_format import node_info_from_class

    m = comfy_nodes.NODE_CLASS_MAPPINGS
    return lambda t: node_info_from_class(m[t], comfy_nodes.NODE_DISPLAY_NAME_MAPPINGS.get(t))


def check_template(wf: dict, name: str) -> None:
    """A Note that says what to load and change, a human title, the three previews on portrait
    workflows, no overlapping nodes or groups, every node in a group."""
    notes = [n for n in wf["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1 and "CHANGE:" in notes[0]["widgets_values"][0]
    assert wf["extra"]["title"] and "_" not in wf["extra"]["title"]
    titles = {n.get("title", "") for n in wf["nodes"] if n["type"] == "PreviewImage"}
    if any(n["type"] == "LensBokeh" for n in wf["nodes"]):
        assert {"Depth (near = white)", "Subject matte", "In focus (white = sharp)"} <= titles
    boxes = {n["id"]: (*n["pos"], *n["size"]) for n in wf["nodes"]}
    for a in boxes:  # no node hides another (title bar 30 px above pos)
        for b in boxes:
            if a < b:
                ax, ay, aw, ah = boxes[a]
                bx, by, bw_, bh = boxes[b]
                overlap = ax < bx + bw_ and bx < ax + aw and ay - 30 < by + bh and by - 30 < ay + ah
                assert not overlap, f"{name}: nodes {a} and {b} overlap"
    grouped = set()
    for g in wf["groups"]:
        gx, gy, gw, gh = g["bounding"]
        inside = [
            i for i, (x, y, w, h) in boxes.items() if gx <= x and x + w <= gx + gw and gy <= y - 30 and y + h <= gy + gh
        ]
        grouped |= set(inside)
        for g2 in wf["groups"]:
            if g2 is not g:
                hx, hy, hw, hh = g2["bounding"]
                assert not (gx < hx + hw and hx < gx + gw and gy < hy + hh and hy < gy + gh), f"{name}: groups overlap"
    assert grouped == set(boxes), f"{name}: nodes outside any group: {set(boxes) - grouped}"
