"""Conversion between ComfyUI's API-format graphs and the editor's (UI) workflow format, and checks of
an API graph against a server's node definitions. Standard library only (used by run_workflow.py).

Node definitions are what ``GET /object_info`` returns per class: ``{"input": {"required": {name:
[type, opts]}, "optional": {...}}, "input_order": {...}, "output": [...], "output_name": [...]}``.
:func:`node_info_from_class` builds the same from a loaded node class (in-process).

A widget's value sits in the editor's ``widgets_values`` in input order; ComfyUI's editor adds one
extra value after an image-upload combo (``"image"``) and after a widget with
``control_after_generate`` (``"fixed"``, ``"randomize"``, …). Nodes that exist only in the editor (notes,
reroutes, primitive nodes) are not in the API graph; muted nodes (mode 2) are dropped and bypassed
nodes (mode 4) pass their input of the same type through, as the editor does when it queues a prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

SOCKETLESS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
EDITOR_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4

NodeInfo = Callable[[str], dict]


class WorkflowError(ValueError):
    """A workflow that cannot be converted or does not fit the server's nodes."""


def node_info_from_class(cls, display_name: str | None = None) -> dict:
    """``/object_info``'s entry for a loaded node class (V1 or V3)."""
    spec = cls.INPUT_TYPES()
    outputs = list(cls.RETURN_TYPES)
    names = getattr(cls, "RETURN_NAMES", None) or outputs
    return {
        "display_name": display_name or getattr(cls, "DISPLAY_NAME", None) or cls.__name__,
        "input": {k: spec[k] for k in ("required", "optional") if k in spec},
        "input_order": {k: list(spec[k]) for k in ("required", "optional") if k in spec},
        "output": outputs,
        "output_name": list(names),
    }


def inputs_in_order(info: dict) -> list[tuple[str, Any, dict, bool]]:
    """(name, type, options, required) of every input, in the order the editor shows them."""
    out = []
    spec = info.get("input", {})
    order = info.get("input_order") or {k: list(v) for k, v in spec.items()}
    for section in ("required", "optional"):
        for name in order.get(section) or []:
            val = (spec.get(section) or {})[name]
            typ = val[0]
            opts = val[1] if len(val) > 1 and isinstance(val[1], dict) else {}
            out.append((name, typ, opts, section == "required"))
    return out


def is_widget(typ: Any, opts: dict) -> bool:
    if isinstance(typ, list):
        return True
    return typ in SOCKETLESS and not opts.get("forceInput")


def type_name(typ: Any) -> str:
    return typ if isinstance(typ, str) else "COMBO"


def combo_options(typ: Any, opts: dict) -> list | None:
    if isinstance(typ, list):
        return typ
    if typ == "COMBO":
        return list(opts.get("options", []))
    return None


def extra_widget_values(opts: dict) -> int:
    """How many values the editor stores after this widget's own."""
    return int(bool(opts.get("image_upload"))) + int(bool(opts.get("control_after_generate")))


def default_value(typ: Any, opts: dict) -> Any:
    """The value a new node in the editor shows (ComfyUI's rules); ``KeyError`` when there is none."""
    if "default" in opts:
        return opts["default"]
    options = combo_options(typ, opts)
    if options:
        return options[0]
    raise KeyError("no default")


# --- API -> UI ----------------------------------------------------------------------------------


def estimated_size(info: dict, n_widgets: int, preview: bool = False) -> list[int]:
    """A node size (width, height below the title) that shows every socket and widget."""
    n_sockets = sum(1 for _n, t, o, _r in inputs_in_order(info) if not is_widget(t, o))
    rows = max(n_sockets, len(info.get("output", [])))
    return [340, 16 + 22 * rows + 26 * n_widgets + (300 if preview else 0)]


def api_to_ui(graph: dict, node_info: NodeInfo, layout: dict | None = None) -> dict:
    """Lay an API graph out as an editor workflow.

    ``layout`` (all optional): ``nodes``: ``{id: {"pos": [x, y], "size": [w, h], "title": str,
    "color": str, "bgcolor": str}}`` (default: left to right in dependency order); ``notes``: editor-only
    Note nodes ``[{"id", "text", "pos", "size", "title"}]``; ``groups``: ``[{"title", "nodes": [ids],
    "color"}]`` (bounds computed around the nodes); ``extra``: the workflow's ``extra``.
    """
    layout = layout or {}
    placed = layout.get("nodes", {})
    order = _topological(graph)
    nodes, links = [], []
    outputs_links: dict[tuple[int, int], list[int]] = {}
    x = 40
    for nid in order:
        node = graph[nid]
        info = node_info(node["class_type"])
        widgets, sockets = [], []
        for name, typ, opts, required in inputs_in_order(info):
            value = node["inputs"].get(name)
            linked = isinstance(value, list)
            if is_widget(typ, opts) and not linked:
                if name in node["inputs"]:
                    widgets.append(value)
                    if opts.get("image_upload"):
                        widgets.append("image")
                    if opts.get("control_after_generate"):
                        widgets.append("fixed")
                continue
            entry: dict[str, Any] = {"name": name, "type": type_name(typ), "link": None}
            if is_widget(typ, opts):  # a widget fed by a link
                entry["widget"] = {"name": name}
                widgets.append(default_value(typ, opts))
                if opts.get("image_upload"):
                    widgets.append("image")
                if opts.get("control_after_generate"):
                    widgets.append("fixed")
            if not required:
                entry["shape"] = 7  # optional socket
            if linked:
                link_id = len(links) + 1
                entry["link"] = link_id
                links.append([link_id, int(value[0]), int(value[1]), int(nid), len(sockets), type_name(typ)])
                outputs_links.setdefault((int(value[0]), int(value[1])), []).append(link_id)
            sockets.append(entry)
        where = dict(placed.get(int(nid), {}))
        title = (node.get("_meta") or {}).get("title")
        if title and title != info.get("display_name") and "title" not in where:
            where["title"] = title
        is_preview = node["class_type"] in ("LoadImage", "PreviewImage", "SaveImage")
        ui_node: dict[str, Any] = {
            "id": int(nid),
            "type": node["class_type"],
            "pos": list(where.get("pos", [x, 120])),
            "size": list(where.get("size") or estimated_size(info, len(widgets), is_preview)),
            "flags": {},
            "order": len(nodes),
            "mode": 0,
            "inputs": sockets,
            "outputs": [],
            "properties": {"Node name for S&R": node["class_type"]},
            "widgets_values": widgets,
        }
        for key in ("title", "color", "bgcolor"):
            if key in where:
                ui_node[key] = where[key]
        nodes.append(ui_node)
        x += 380
    for n in nodes:
        info = node_info(n["type"])
        names = info.get("output_name") or info["output"]
        n["outputs"] = [
            {"name": str(names[i]), "type": t, "links": outputs_links.get((n["id"], i), []), "slot_index": i}
            for i, t in enumerate(info["output"])
        ]
    for note in layout.get("notes", []):
        nodes.append(
            {
                "id": int(note["id"]),
                "type": "Note",
                "pos": list(note["pos"]),
                "size": list(note["size"]),
                "flags": {},
                "order": len(nodes),
                "mode": 0,
                "inputs": [],
                "outputs": [],
                "title": note.get("title", "Note"),
                "properties": {},
                "widgets_values": [note["text"]],
                "color": "#432",
                "bgcolor": "#653",
            }
        )
    by_id = {n["id"]: n for n in nodes}
    groups = []
    for i, g in enumerate(layout.get("groups", []), start=1):
        members = [by_id[int(k)] for k in g["nodes"]]
        x0 = min(m["pos"][0] for m in members) - 20
        y0 = min(m["pos"][1] for m in members) - 30 - 50  # node title bar, group title
        x1 = max(m["pos"][0] + m["size"][0] for m in members) + 20
        y1 = max(m["pos"][1] + m["size"][1] for m in members) + 20
        groups.append(
            {
                "id": i,
                "title": g["title"],
                "bounding": [x0, y0, x1 - x0, y1 - y0],
                "color": g.get("color", "#3f789e"),
                "font_size": 24,
                "flags": {},
            }
        )
    return {
        "last_node_id": max(n["id"] for n in nodes),
        "last_link_id": len(links),
        "nodes": nodes,
        "links": links,
        "groups": groups,
        "config": {},
        "extra": layout.get("extra", {}),
        "version": 0.4,
    }


# --- UI -> API ----------------------------------------------------------------------------------


def ui_to_api(workflow: dict, node_info: NodeInfo, known: Callable[[str], bool] | None = None) -> dict:
    """The API graph the editor queues for a UI-format workflow (the inverse of :func:`api_to_ui`), as
    its "Export (API)" writes it (``_meta.title``: the node's title, else its display name).

    ``known(class_type)`` says whether the server has that node (default: ``node_info`` does not raise
    ``KeyError``); an unknown node that is not editor-only is a :class:`WorkflowError` naming it.
    """
    if "nodes" not in workflow or "links" not in workflow:
        raise WorkflowError("not a UI-format workflow (no 'nodes' and 'links')")

    def has(t: str) -> bool:
        if known is not None:
            return known(t)
        try:
            node_info(t)
            return True
        except KeyError:
            return False

    nodes = {int(n["id"]): n for n in workflow["nodes"]}
    subgraphs = {g.get("id"): g.get("name", "") for g in (workflow.get("definitions") or {}).get("subgraphs", [])}
    links = {}
    for link in workflow["links"]:
        if isinstance(link, dict):  # the editor's newer object form
            links[link["id"]] = (link["origin_id"], link["origin_slot"], link.get("type"))
        else:
            links[link[0]] = (link[1], link[2], link[5] if len(link) > 5 else None)

    def source(link_id: int, seen: frozenset = frozenset()) -> tuple[int, int] | None:
        """The (node, slot) that really feeds a link, through reroutes and bypassed nodes."""
        if link_id not in links:
            return None
        origin, slot, typ = links[link_id]
        node = nodes.get(int(origin))
        if node is None or origin in seen:
            return None
        if node["type"] == "Reroute" or node.get("mode") == BYPASSED:
            want = typ
            if node["type"] != "Reroute":
                out = (node.get("outputs") or [])[slot] if slot < len(node.get("outputs") or []) else {}
                want = out.get("type", typ)
            for inp in node.get("inputs", []):
                if inp.get("link") is not None and (node["type"] == "Reroute" or inp.get("type") in (want, "*")):
                    return source(inp["link"], seen | {origin})
            return None
        if node.get("mode") == MUTED or node["type"] in EDITOR_ONLY:
            return None
        return int(origin), int(slot)

    graph = {}
    for nid in sorted(nodes):
        n = nodes[nid]
        if n["type"] in EDITOR_ONLY or n.get("mode") in (MUTED, BYPASSED):
            continue
        if n["type"] in subgraphs:
            raise WorkflowError(
                f"node {nid} is a subgraph ({subgraphs[n['type']]!r}), which this converter does not expand: "
                "unpack it in the editor, or export the workflow in API format (File → Export (API))"
            )
        if not has(n["type"]):
            title = n.get("title") or n["type"]
            raise WorkflowError(
                f"node {nid} ({title!r}) is of type {n['type']!r}, which this server does not have: "
                "install the custom node pack that provides it"
            )
        info = node_info(n["type"])
        values = n.get("widgets_values", [])
        if isinstance(values, dict):  # some packs save widgets by name
            values = [values[name] for name, t, o, _r in inputs_in_order(info) if is_widget(t, o) and name in values]
        values = list(values)
        socket_links = {s["name"]: s.get("link") for s in n.get("inputs", [])}
        inputs: dict[str, Any] = {}
        for name, typ, opts, _required in inputs_in_order(info):
            if is_widget(typ, opts) and values:
                inputs[name] = values.pop(0)
                for _ in range(extra_widget_values(opts)):
                    if values:
                        values.pop(0)
            if socket_links.get(name) is not None:
                src = source(socket_links[name])
                if src is not None:
                    inputs[name] = [str(src[0]), src[1]]
                elif not is_widget(typ, opts):
                    inputs.pop(name, None)
        graph[str(nid)] = {
            "inputs": inputs,
            "class_type": n["type"],
            "_meta": {"title": n.get("title") or info.get("display_name") or n["type"]},
        }
    return apply_text_replacements(graph, nodes)


_REPLACEMENT = re.compile(r"%([^%]+)%")
_UNSAFE_IN_NAMES = re.compile(r'[/?<>\\:*|"\x00-\x1f\x7f]')


def _as_text(value: Any) -> str:
    """A widget value as the editor writes it into text (JavaScript's ``String()``: 85.0 -> "85")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def apply_text_replacements(graph: dict, ui_nodes: dict[int, dict] | None = None) -> dict:
    """``%Node.widget%`` in string inputs replaced by that node's widget value, as the editor does when it
    queues a graph (``filename_prefix`` of SaveImage saying the lens, say). ``Node`` is a node's
    "Node name for S&R" (its type, in the shipped workflows), else its title; ComfyUI's own ``%year%``,
    ``%width%``... (no dot) are left to the server. Characters not allowed in file names become ``_``."""
    by_name: dict[str, dict] = {}
    for nid, node in graph.items():
        ui = (ui_nodes or {}).get(int(nid), {})
        name = (ui.get("properties") or {}).get("Node name for S&R") or node["class_type"]
        by_name.setdefault(name, node)
    for node in graph.values():
        title = node.get("_meta", {}).get("title")
        if title:
            by_name.setdefault(title, node)

    def replace(m: re.Match) -> str:
        parts = m.group(1).split(".")
        if len(parts) != 2 or parts[0] not in by_name or parts[1] not in by_name[parts[0]]["inputs"]:
            return m.group(0)
        value = by_name[parts[0]]["inputs"][parts[1]]
        return m.group(0) if isinstance(value, list) else _UNSAFE_IN_NAMES.sub("_", _as_text(value))

    for node in graph.values():
        for key, value in node["inputs"].items():
            if isinstance(value, str) and "%" in value:
                node["inputs"][key] = _REPLACEMENT.sub(replace, value)
    return graph


def is_ui_format(workflow: dict) -> bool:
    return isinstance(workflow, dict) and "nodes" in workflow and "links" in workflow


# --- checks -------------------------------------------------------------------------------------


def validate_api(graph: dict, object_info: dict, env_dependent: Callable[[str, str], bool] | None = None) -> list[str]:
    """What in an API graph does not fit the server's node definitions (empty when all fits).

    Checks node types, required inputs, unknown inputs, link targets and their types, number ranges
    and combo values. ``env_dependent(class_type, input)`` marks combos whose options depend on the
    user's files (photos, models, stored identities); their values are not checked.
    """
    problems = []
    for nid, node in graph.items():
        ct = node.get("class_type")
        if ct not in object_info:
            problems.append(f"node {nid}: unknown type {ct!r}")
            continue
        info = object_info[ct]
        spec = {name: (typ, opts, req) for name, typ, opts, req in inputs_in_order(info)}
        for name in node["inputs"]:
            if name not in spec:
                problems.append(f"node {nid} ({ct}): input {name!r} is not one of {sorted(spec)}")
        for name, (typ, opts, req) in spec.items():
            if name not in node["inputs"]:
                if req:
                    problems.append(f"node {nid} ({ct}): required input {name!r} missing")
                continue
            value = node["inputs"][name]
            if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                src = graph.get(str(value[0]))
                if src is None:
                    problems.append(f"node {nid} ({ct}).{name}: links to missing node {value[0]}")
                    continue
                outs = object_info.get(src["class_type"], {}).get("output", [])
                if value[1] >= len(outs):
                    problems.append(f"node {nid} ({ct}).{name}: node {value[0]} has no output {value[1]}")
                    continue
                want, got = type_name(typ), outs[value[1]]
                if want != got and "*" not in (want, got) and not (want == "COMBO" and isinstance(got, list)):
                    problems.append(f"node {nid} ({ct}).{name}: expects {want}, linked to a {got} output")
                continue
            options = combo_options(typ, opts)
            if options is not None:
                if value not in options and not (env_dependent and env_dependent(ct, name)):
                    problems.append(f"node {nid} ({ct}).{name}: {value!r} is not one of {options}")
                continue
            if typ in ("INT", "FLOAT"):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    problems.append(f"node {nid} ({ct}).{name}: {value!r} is not a number")
                    continue
                if "min" in opts and value < opts["min"] or "max" in opts and value > opts["max"]:
                    problems.append(f"node {nid} ({ct}).{name}: {value} outside {opts.get('min')}..{opts.get('max')}")
            elif typ == "BOOLEAN" and not isinstance(value, bool):
                problems.append(f"node {nid} ({ct}).{name}: {value!r} is not true/false")
            elif typ == "STRING" and not isinstance(value, str):
                problems.append(f"node {nid} ({ct}).{name}: {value!r} is not text")
    return problems


def _topological(graph: dict) -> list[str]:
    seen, order = set(), []

    def visit(nid: str) -> None:
        if nid in seen:
            return
        seen.add(nid)
        for v in graph[nid]["inputs"].values():
            if isinstance(v, list):
                visit(str(v[0]))
        order.append(nid)

    for nid in sorted(graph, key=int):
        visit(nid)
    return order
