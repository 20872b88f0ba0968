"""Validation from the schema, over HTTP: for every input of every PortraitOS node, a prompt carrying one
invalid value for it is refused with a 400 whose message names that input, and nothing runs.

Each node is validated inside a small graph whose other inputs are valid (checked first: the node has
no error of its own there). The graph's only output, a SaveImage, is itself broken (its prefix is linked
to an IMAGE), so ComfyUI validates the whole graph but can never queue it.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

PACK_MODULE = "PortraitOS"


def _pack_nodes(info: dict) -> dict[str, dict]:
    return {name: spec for name, spec in info.items() if PACK_MODULE in spec.get("python_module", "")}


def _inputs(spec: dict) -> dict[str, tuple[object, dict, bool]]:
    out = {}
    for group in ("required", "optional"):
        for name, entry in spec["input"].get(group, {}).items():
            opts = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            out[name] = (entry[0], opts, group == "required")
    return out


def _is_widget(kind) -> bool:
    return isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


def _default(kind, opts: dict):
    if "default" in opts:
        return opts["default"]
    options = kind if isinstance(kind, list) else opts.get("options")
    if options:
        return options[0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(kind)


def _invalid_values(kind, opts: dict) -> list[object]:
    """Values the input's schema refuses: out of range, not a number, not finite, not an option, or a
    literal where a link belongs.

    ComfyUI 0.3.75 coerces INT, STRING and BOOLEAN widget values with ``int()``, ``str()`` and ``bool()``
    before any node sees them (1.5 arrives as 1, 42 as "42", "false" as True), so a whole-number, text or
    true/false check can never fire over HTTP; those rules are tested in process.
    """
    if kind in ("INT", "FLOAT"):
        bad: list[object] = []
        if opts.get("max") is not None:
            bad.append(opts["max"] + 1)
        if opts.get("min") is not None:
            bad.append(opts["min"] - 1)
        bad.append("seven")
        if kind == "FLOAT":
            bad.append(math.nan)
        return bad
    if isinstance(kind, list) or kind == "COMBO":
        return ["no such option"]
    if kind in ("BOOLEAN", "STRING"):
        return []
    return ["a literal where a link belongs"]


# inputs the probe's mode does not use: IdentityLoader loads a stored identity, which needs no face model
UNUSED_IN_PROBE = {("IdentityLoader", "face_model")}


@pytest.fixture(scope="module")
def probe(comfy_server, comfy_nodes):
    """The server's object_info and the producers of each socket type the pack's nodes take."""
    from skimage import data

    from portraitos.engine.depth.files import DEPTH_EXTENSIONS
    from portraitos.engine.faces import analyse, load_pack
    from portraitos.engine.identity import build_identity, save_identity
    from portraitos.testing.tiny_diffusion_models import build_checkpoint
    from portraitos.testing.tiny_face_models import build_pack

    buf = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(buf, format="PNG")
    photo = comfy_server.upload("schema_probe.png", buf.getvalue())["name"]
    depth_file = comfy_server.input_dir / ("schema_probe" + next(e for e in DEPTH_EXTENSIONS if e == ".npy"))
    np.save(depth_file, np.full((48, 64), 2.0, np.float32))
    build_checkpoint(comfy_server.model_folders["checkpoints"] / "schema_probe_sd15.safetensors", "sd15")
    pack_dir = comfy_server.workdir / "schema_probe_pack"
    build_pack(pack_dir, "buffalo_l")
    record, warned, _ = analyse(load_pack(pack_dir, "buffalo_l"), data.astronaut())
    identity = build_identity("schema-probe", [record], "buffalo_l", warned)
    save_identity(identity, comfy_server.model_folders["identities"], overwrite=True)
    info = comfy_server.get_json("/object_info")
    producers = {
        "IMAGE": ("LoadImage", {"image": photo}, 0),
        "MASK": ("SolidMask", {"value": 1.0, "width": 64, "height": 48}, 0),
        "DEPTH": ("DepthLoad", {"depth": depth_file.name, "scale": 1.0}, 0),
        "LIGHTING": ("LightingTint", None, info["LightingTint"]["output"].index("LIGHTING")),
        "IDENTITY": ("IdentityLoader", {"mode": "load", "stored_identity": "schema-probe"}, 0),
        "MODEL": ("CheckpointLoaderSimple", {"ckpt_name": "schema_probe_sd15.safetensors"}, 0),
        "CLIP": ("CheckpointLoaderSimple", {"ckpt_name": "schema_probe_sd15.safetensors"}, 1),
        "VAE": ("CheckpointLoaderSimple", {"ckpt_name": "schema_probe_sd15.safetensors"}, 2),
        "CONDITIONING": ("CLIPTextEncode", {"text": "a portrait"}, 0),
    }
    return info, producers


def _graph(info: dict, producers: dict, node: str) -> tuple[dict, str]:
    """A graph in which ``node`` (id "N") has every widget at its default and every required socket linked;
    its outputs end in a SaveImage that can never run."""
    graph: dict[str, dict] = {}

    def add(class_type: str, given: dict | None, depth: int = 0) -> str:
        node_id = "N" if depth == 0 else f"p{len(graph)}"
        inputs: dict[str, object] = {}
        for name, (kind, opts, required) in _inputs(info[class_type]).items():
            if given is not None and name in given:
                inputs[name] = given[name]
            elif _is_widget(kind):
                inputs[name] = _default(kind, opts)
            elif required:
                assert kind in producers, f"{class_type}.{name}: no producer of {kind} for the probe"
                source, source_inputs, index = producers[kind]
                inputs[name] = [add(source, source_inputs, depth + 1), index]
        graph[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    # a node that also produces a socket starts from the producer's values (IdentityLoader loads the
    # stored probe identity: no face model is installed on the test server)
    add(node, next((given for source, given, _ in producers.values() if source == node), None))
    outputs = info[node]["output"]
    if "IMAGE" in outputs:
        image = ["N", outputs.index("IMAGE")]
    elif "MODEL" in outputs and "CONDITIONING" in outputs:  # an apply node: sample with what it returns
        conds = [i for i, t in enumerate(outputs) if t == "CONDITIONING"]
        source, given, _ = producers["VAE"]
        vae = [add(source, given, 1), 2]
        graph["latent"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}
        sampler = {"seed": 0, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
        graph["sample"] = {
            "class_type": "KSampler",
            "inputs": {
                "model": ["N", outputs.index("MODEL")],
                "positive": ["N", conds[0]],
                "negative": ["N", conds[-1]],
                "latent_image": ["latent", 0],
                **sampler,
            },
        }
        graph["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": vae}}
        image = ["decode", 0]
    else:
        raise AssertionError(f"{node}: no IMAGE, MODEL or CONDITIONING output to end the probe graph on")
    # the prefix linked to an IMAGE: a type mismatch, so the output never validates (its images input is
    # still followed, and the node under test validated)
    graph["out"] = {"class_type": "SaveImage", "inputs": {"images": image, "filename_prefix": image}}
    return graph, "N"


def _errors(comfy_server, graph: dict) -> dict:
    status, body = comfy_server.post_json("/prompt", {"prompt": graph})
    assert status == 400, f"the probe graph was not refused ({status}): its SaveImage should never validate"
    return body.get("node_errors", {})


def test_every_input_of_every_node_refuses_an_invalid_value_by_name(comfy_server, probe):
    info, producers = probe
    nodes = _pack_nodes(info)
    assert len(nodes) >= 9, sorted(nodes)
    tried, unnamed = 0, []
    for node in sorted(nodes):
        graph, nid = _graph(info, producers, node)
        base = _errors(comfy_server, graph)
        assert nid not in base, f"{node}: the probe's own values are refused: {base[nid]['errors']}"
        for name, (kind, opts, _required) in _inputs(info[node]).items():
            if (node, name) in UNUSED_IN_PROBE:
                continue
            for bad in _invalid_values(kind, opts):
                mutated = {**graph, nid: {**graph[nid], "inputs": {**graph[nid]["inputs"], name: bad}}}
                errors = _errors(comfy_server, mutated)
                tried += 1
                messages = [
                    " ".join(str(e.get(k, "")) for k in ("message", "details"))
                    for e in errors.get(nid, {}).get("errors", [])
                ]
                # ComfyUI prefixes each message with the inputs it validated; the pack's part must name it
                named = [m for m in messages if name in m.split(" - ", 1)[-1] or f"'{name}'" in m or f" {name}," in m]
                if not named:
                    unnamed.append(f"{node}.{name}={bad!r}: {messages or 'accepted'}")
    assert not unnamed, f"{len(unnamed)} of {tried} invalid values not refused by name:\n" + "\n".join(unnamed)
    assert tried >= 150, tried
