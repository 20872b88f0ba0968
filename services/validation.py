"""Checks run before a prompt is queued (an HTTP 400 naming the input), generated from each node's schema.

ComfyUI checks widgets against their ``min``/``max`` only for inputs a node's ``validate_inputs`` does not
name, lets NaN and infinity through (every comparison with NaN is false), and (0.3.75) never checks a V3
combo's options. So every PortraitOS node validates through :class:`SchemaChecked`: its
``validate_inputs`` takes every input (``**values``, which also turns ComfyUI's partial checks off) and
checks each against the node's own schema — numbers finite and in range (whole for INT), combos one of
their options, booleans and text of their type, sockets linked — then the node's cross-field rules
(``check_inputs``). Inputs a node checks itself with a better message (files, installed models) are
named in ``OWN_CHECKS``.

A model file the prompt needs but that is not installed (``missing_models``) is reported once, on its node,
naming the folder to put it in, the method that needs it and where to get it. ComfyUI repeats a message
``validate_inputs`` returns once per input the function takes (0.3.75: seven times on IdentityLoader), but
reports an exception raised while validating a node once, on that node ("Exception when validating
(inner) node: <message>"): so a missing model is raised as :class:`MissingModel`.
"""

from __future__ import annotations

import math


def _spec(cls, name: str) -> tuple[object, dict]:
    types = cls.INPUT_TYPES()
    for group in ("required", "optional"):
        if name in types.get(group, {}):
            entry = types[group][name]
            return entry[0], (entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {})
    raise KeyError(name)


def numbers(cls, **values) -> str | None:
    """The first problem with the numeric widget ``values`` (None = linked from another node), or None.

    Each must be a finite number inside the schema's ``min``..``max``.
    """
    for name, v in values.items():
        if v is None:
            continue
        _type, opts = _spec(cls, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"{name} must be a number, got {type(v).__name__} {v!r}"
        if not math.isfinite(v):
            return f"{name} must be a finite number, got {v}"
        lo, hi = opts.get("min"), opts.get("max")
        allowed = f"allowed {'' if lo is None else f'{lo:g}'}..{'' if hi is None else f'{hi:g}'}"
        if lo is not None and v < lo:
            return f"{name} {v:g} is below its minimum {lo:g} ({allowed})"
        if hi is not None and v > hi:
            return f"{name} {v:g} is above its maximum {hi:g} ({allowed})"
    return None


def options(cls, **values) -> str | None:
    """The first of the combo ``values`` that is not one of its schema's options, or None.

    (ComfyUI 0.3.75 checks a combo's options only when the input type is a list, which V3 combos are
    not: every V3 combo must be checked here.)
    """
    for name, v in values.items():
        if v is None:
            continue
        _type, opts = _spec(cls, name)
        allowed = list(opts.get("options", []))
        if v not in allowed:
            shown = allowed if len(allowed) <= 20 else f"{allowed[:20]} ... ({len(allowed)} in all)"
            return f"{name} {v!r} is not one of {shown}"
    return None


def connected(cls, **values) -> str | None:
    """The first of the socket inputs ``values`` given a literal value instead of a link, or None.

    While a prompt is validated, a linked input arrives as None; anything else is a value typed into
    the prompt's JSON where a node's output belongs (``"image": "photo.png"``).
    """
    for name, v in values.items():
        if v is None:
            continue
        kind, _opts = _spec(cls, name)
        shown = repr(v)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return (
            f"{name} must be connected to a node's {kind} output ([node_id, output_index]), "
            f"got the {type(v).__name__} {shown}"
        )
    return None


def schema(cls, values: dict, skip: tuple[str, ...] = ()) -> str | None:
    """The first input of ``values`` (by the schema's order) that its schema refuses, or None.

    A value of None is a linked input (ComfyUI leaves links out while it validates). ``skip``: inputs the
    node checks itself.
    """
    types = cls.INPUT_TYPES()
    for group in ("required", "optional"):
        for name, entry in types.get(group, {}).items():
            if name in skip or values.get(name) is None:
                continue
            kind = entry[0]
            opts = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            v = values[name]
            if kind in ("INT", "FLOAT"):
                problem = numbers(cls, **{name: v})
                if problem is None and kind == "INT" and float(v) != int(v):
                    problem = f"{name} must be a whole number, got {v!r}"
            elif kind == "COMBO" or isinstance(kind, (list, tuple)):
                problem = options(cls, **{name: v}) if opts.get("options") is not None else None
            elif kind == "BOOLEAN":
                problem = None if isinstance(v, bool) else f"{name} must be true or false, got {v!r}"
            elif kind == "STRING":
                problem = None if isinstance(v, str) else f"{name} must be text, got the {type(v).__name__} {v!r}"
            else:
                problem = connected(cls, **{name: v})
            if problem:
                return problem
    return None


class MissingModel(Exception):
    """A model file the prompt needs is not installed; the message says which, where it goes, for which
    method, and where to get it. Raised by ``validate_inputs`` so that ComfyUI reports it once."""


class SchemaChecked:
    """Mixin for a V3 node (before ``io.ComfyNode`` in its bases): ``validate_inputs`` from its schema.

    A node overrides ``check_inputs`` for rules across inputs (near < far, a file that must exist) and
    lists in ``OWN_CHECKS`` the inputs that ``check_inputs`` checks instead of the schema.
    """

    OWN_CHECKS: tuple[str, ...] = ()

    @classmethod
    def validate_inputs(cls, **values) -> bool | str:
        problem = schema(cls, values, skip=cls.OWN_CHECKS)
        if problem:
            return first(problem)
        missing = cls.missing_models(**values)
        if missing:
            raise MissingModel(missing)
        return first(cls.check_inputs(**values))

    @classmethod
    def missing_models(cls, **values) -> str | None:
        """What model files the inputs need that are not installed (one message naming the folders, the
        method and where to get them), or None. Linked inputs are absent."""
        return None

    @classmethod
    def check_inputs(cls, **values) -> str | None:
        """The node's own rules over the inputs that passed the schema (linked inputs are absent)."""
        return None


def first(*problems: str | None) -> bool | str:
    """``validate_inputs``'s answer: the first problem found, else True."""
    for p in problems:
        if p:
            return p
    return True
