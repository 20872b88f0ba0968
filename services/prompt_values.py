"""Booleans a headless client writes as text, read as what they say.

ComfyUI 0.3.75 turns a BOOLEAN input into ``bool(value)`` before any node or check sees it, so a
pipeline that sends ``"near_is_bright": "false"`` (text, as many config files and shells produce) runs
with it *on*. For this pack's nodes, the usual spellings (true/false, yes/no, on/off, 1/0, any case)
are replaced by the boolean they name as the prompt arrives (``PromptServer``'s on-prompt hook, before
validation); any other text is left to ComfyUI and logged with the node and input it was found on.
"""

from __future__ import annotations

import logging
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})

log = logging.getLogger("PortraitOS")


def boolean_inputs(node_classes: dict[str, type]) -> dict[str, frozenset[str]]:
    """Class type -> names of its BOOLEAN inputs (required and optional), from each node's schema."""
    out: dict[str, frozenset[str]] = {}
    for name, cls in node_classes.items():
        spec = cls.INPUT_TYPES()  # type: ignore[attr-defined]  # V3 nodes keep the V1 schema call
        names = {
            key
            for group in ("required", "optional")
            for key, value in spec.get(group, {}).items()
            if isinstance(value, (tuple, list)) and value and value[0] == "BOOLEAN"
        }
        if names:
            out[name] = frozenset(names)
    return out


def read_boolean_words(prompt_json: dict[str, Any], booleans: dict[str, frozenset[str]]) -> dict[str, Any]:
    """The posted ``/prompt`` body with text values of the listed nodes' BOOLEAN inputs replaced by the
    boolean they spell (in place; returned for the hook)."""
    prompt = prompt_json.get("prompt")
    if not isinstance(prompt, dict):
        return prompt_json
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or node.get("class_type") not in booleans:
            continue
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            continue
        for name in booleans[node["class_type"]]:
            value = inputs.get(name)
            if not isinstance(value, str):
                continue
            word = value.strip().lower()
            if word in TRUE_WORDS:
                inputs[name] = True
            elif word in FALSE_WORDS:
                inputs[name] = False
            else:
                log.warning(
                    "node %s (%s): %s=%r is not true or false; ComfyUI will read any non-empty text as true",
                    node_id,
                    node["class_type"],
                    name,
                    value,
                )
    return prompt_json


def install(node_classes: dict[str, type]) -> bool:
    """Register the hook on the running ComfyUI server; False when there is none (tests in-process)."""
    try:
        from server import PromptServer
    except ImportError:
        return False
    server = getattr(PromptServer, "instance", None)
    if server is None:
        return False
    booleans = boolean_inputs(node_classes)
    server.add_on_prompt_handler(lambda body: read_boolean_words(body, booleans))
    return True
