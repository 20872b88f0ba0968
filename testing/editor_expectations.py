"""What the editor must find on every PortraitOS node (tooltips, search words, categories), checked both
in process and on a live server's /object_info; and the small depth scenes the editor tests use."""

from __future__ import annotations

import torch

from portraitos.engine.depth import DepthMap

NODE_IDS = ("DepthEstimate", "DepthLoad", "DepthFromImage", "IdentityLoader", "LensBokeh", "LightingTint")


# inputs whose 0 means "work it out": their tooltips must say so
AUTO_INPUTS = {
    "DepthEstimate": ("subject_distance_m",),
    "DepthFromImage": ("near_distance_m",),
    "LensBokeh": ("focus_distance_m",),
    "LightingTint": ("key_temperature_k", "ambient_temperature_k"),
    "IdentityLoader": ("face_index",),
}


# Frontend 1.32.9's node search (NodeSearchService) is Fuse.js over the keys ["name", "display_name"]
# with threshold 0.3 and Fuse's default location 0 / distance 100: an exact word matches only when it
# starts within the first 30 characters of the node id or the display name. Description and category
# are not searched.
SEARCH_REACH = 30


ALL_NODE_IDS = (*NODE_IDS, "IdentityScore", "PortraitGenerate")


SEARCH_WORDS = {
    "portrait": ALL_NODE_IDS,
    "blur": ("LensBokeh",),
    "bokeh": ("LensBokeh",),
    "dof": ("LensBokeh",),
    "face": ("DepthEstimate", "IdentityLoader"),
    "background": ("DepthEstimate", "LensBokeh"),
    "depth": ("DepthEstimate", "DepthLoad", "DepthFromImage"),
    "light": ("LightingTint",),
    "identity": ("IdentityLoader",),
}


# found by frontends that also search the nodes' search_aliases (1.5x), not by the display names alone
ALIAS_WORDS = {"depth of field": ("LensBokeh",), "depth anything": ("DepthFromImage",), "relight": ("LightingTint",)}


CATEGORIES = {
    "DepthEstimate": "PortraitOS/Depth",
    "DepthLoad": "PortraitOS/Depth",
    "DepthFromImage": "PortraitOS/Depth",
    "LensBokeh": "PortraitOS/Lens",
    "LightingTint": "PortraitOS/Light",
    "IdentityLoader": "PortraitOS/Identity",
}


def check_tooltips(info: dict) -> None:
    for node in NODE_IDS:
        n = info[node]
        for section in ("required", "optional"):
            for name, spec in n["input"].get(section, {}).items():
                tip = spec[1].get("tooltip") if len(spec) > 1 else None
                assert tip and len(tip) > 15, f"{node}.{name} has no tooltip"
        assert len(n["output_tooltips"]) == len(n["output"])
        for name, tip in zip(n["output_name"], n["output_tooltips"]):
            assert tip and len(tip) > 15, f"{node} output {name} has no tooltip"
        for name in AUTO_INPUTS.get(node, ()):
            spec = n["input"]["required"][name]
            assert "auto" in spec[1]["tooltip"], f"{node}.{name}: the tooltip must say what 'auto' does"


def check_search_and_categories(info: dict) -> None:
    for word, nodes in SEARCH_WORDS.items():
        for node in nodes:
            fields = (node.lower(), info[node]["display_name"].lower())
            at = min((f.find(word) for f in fields if word in f), default=-1)
            assert 0 <= at <= SEARCH_REACH, f"searching {word!r} would not find {node} ({fields})"
    for node, category in CATEGORIES.items():
        assert info[node]["category"] == category


def scene_depth(h=96, w=128) -> torch.Tensor:
    """Known metres: a wall receding from 3 to 9 m with a subject at 1.2 m in front."""
    x = torch.linspace(0, 1, w).view(1, w).expand(h, w)
    d = 3.0 + 6.0 * x
    d = d.clone()
    d[30:80, 40:80] = 1.2
    return d


def disparity_picture(d: torch.Tensor) -> torch.Tensor:
    """As Depth Anything / MiDaS draw it: relative disparity normalised 0..1, near = bright."""
    disp = 1.0 / d
    return (disp - disp.min()) / (disp.max() - disp.min())


def depth_for_lens(focal=85.0, sensor="full frame 36x24") -> DepthMap:
    d = torch.full((1, 48, 64), 6.0)
    d[:, 12:36, 20:44] = 2.0
    return DepthMap(d, "calibrated", {"focal_length_mm": focal, "sensor": sensor})
