"""Values a headless client sends that ComfyUI 0.3.75 would silently change, read as the client meant them.

ComfyUI turns a BOOLEAN input into ``bool(value)`` and an INT into ``int(value)`` before any node or check
sees it: a pipeline that sends ``"near_is_bright": "false"`` (text, as many config files and shells
produce) runs with it *on*, and ``"aperture_blades": 6.7`` runs with 6 blades. For this pack's nodes,
as the prompt arrives (``PromptServer``'s on-prompt hook, before validation):

- BOOLEAN: the usual spellings (true/false, yes/no, on/off, 1/0, any case) become the boolean they
  name; any other text is left to ComfyUI and logged with the node and input it was found on; ``null``
  (which ComfyUI would run as false) is refused by ComfyUI's own conversion, naming the input.
- INT: a number with a fractional part is passed on as its text, which ComfyUI's own conversion
  refuses (400, "Failed to convert an input value to a INT value", naming the input and the value).
"""

from __future__ import annotations

import logging
import math
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})

log = logging.getLogger("PortraitOS")


def inputs_of_type(node_classes: dict[str, type], kind: str) -> dict[str, frozenset[str]]:
    """Class type -> names of its inputs (required and optional) of ``kind`` ("BOOLEAN", "INT"), from
    each node's schema."""
    out: dict[str, frozenset[str]] = {}
    for name, cls in node_classes.items():
        spec = cls.INPUT_TYPES()  # type: ignore[attr-defined]  # V3 nodes keep the V1 schema call
        names = {
            key
            for group in ("required", "optional")
            for key, value in spec.get(group, {}).items()
            if isinstance(value, (tuple, list)) and value and value[0] == kind
        }
        if names:
            out[name] = frozenset(names)
    return out


class NullBoolean(str):
    """What a BOOLEAN input sent as JSON ``null`` becomes: ComfyUI's ``bool(value)`` conversion raises on it,
    so the prompt is refused (400 "Failed to convert an input value to a BOOLEAN value", naming the input)
    instead of running with false. A ``str`` ("null"), so that ComfyUI's error answer serialises it."""

    input_name: str = ""

    def __new__(cls, name: str) -> NullBoolean:
        self = super().__new__(cls, "null")
        self.input_name = name
        return self

    def __bool__(self) -> bool:
        raise ValueError(f"{self.input_name} is null: send true or false")


def _boolean(node_id: str, class_type: str, name: str, value: Any) -> Any:
    if value is None:
        return NullBoolean(name)
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    log.warning(
        "node %s (%s): %s=%r is not true or false; ComfyUI will read any non-empty text as true",
        node_id,
        class_type,
        name,
        value,
    )
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return repr(value)  # int("6.7") fails in ComfyUI's conversion, which names the input
    return value


def read_as_meant(
    prompt_json: dict[str, Any], booleans: dict[str, frozenset[str]], integers: dict[str, frozenset[str]]
) -> dict[str, Any]:
    """The posted ``/prompt`` body with the listed nodes' BOOLEAN text read as booleans and fractional
    INT values made refusable (in place; returned for the hook)."""
    prompt = prompt_json.get("prompt")
    if not isinstance(prompt, dict):
        return prompt_json
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        class_type = node.get("class_type")
        inputs = node.get("inputs")
        if not isinstance(inputs, dict) or not isinstance(class_type, str):
            continue
        for name in booleans.get(class_type, ()):
            if name in inputs:
                inputs[name] = _boolean(node_id, class_type, name, inputs[name])
        for name in integers.get(class_type, ()):
            if name in inputs:
                inputs[name] = _integer(inputs[name])
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
    booleans = inputs_of_type(node_classes, "BOOLEAN")
    integers = inputs_of_type(node_classes, "INT")
    server.add_on_prompt_handler(lambda body: read_as_meant(body, booleans, integers))
    return True
