"""Conversion between ComfyUI's API-format graphs and the editor's (UI) workflow format.

The API format (``workflows/api/*.json``) is what the HTTP API runs and is the source of truth;
the UI format (``workflows/*.json``) is what users open in the editor and what ComfyUI's template
browser lists. Widget order comes from each node's ``INPUT_TYPES()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SOCKETLESS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}

InputTypes = Callable[[str], dict]


def _inputs_in_order(spec: dict) -> list[tuple[str, Any, dict]]:
    out = []
    for section in ("required", "optional"):
        for name, val in (spec.get(section) or {}).items():
            typ = val[0]
            opts = val[1] if len(val) > 1 and isinstance(val[1], dict) else {}
            out.append((name, typ, opts))
    return out


def _is_widget(typ: Any, opts: dict) -> bool:
    if isinstance(typ, list):
        return True
    return typ in SOCKETLESS and not opts.get("forceInput")


def api_to_ui(graph: dict, input_types: InputTypes, output_types: Callable[[str], list[str]]) -> dict:
    """Lay an API graph out as an editor workflow (nodes left to right in dependency order)."""
    order = _topological(graph)
    nodes, links = [], []
    link_id = 0
    x = 40
    outputs_links: dict[tuple[str, int], list[int]] = {}
    node_inputs: dict[str, list[dict]] = {}
    for nid in order:
        node = graph[nid]
        spec = input_types(node["class_type"])
        widgets, sockets = [], []
        for name, typ, opts in _inputs_in_order(spec):
            if _is_widget(typ, opts):
                if name in node["inputs"] and not isinstance(node["inputs"][name], list):
                    widgets.append(node["inputs"][name])
                    if opts.get("image_upload"):
                        widgets.append("image")
                continue
            link = None
            src = node["inputs"].get(name)
            if isinstance(src, list):
                link_id += 1
                link = link_id
                typ_name = typ if isinstance(typ, str) else "COMBO"
                links.append([link_id, int(src[0]), int(src[1]), int(nid), len(sockets), typ_name])
                outputs_links.setdefault((src[0], int(src[1])), []).append(link_id)
            entry = {"name": name, "type": typ if isinstance(typ, str) else "COMBO", "link": link}
            if name not in (spec.get("required") or {}):
                entry["shape"] = 7  # optional socket
            sockets.append(entry)
        node_inputs[nid] = sockets
        nodes.append(
            {
                "id": int(nid),
                "type": node["class_type"],
                "pos": [x, 120],
                "size": [320, 260],
                "flags": {},
                "order": len(nodes),
                "mode": 0,
                "inputs": sockets,
                "outputs": [],
                "properties": {"Node name for S&R": node["class_type"]},
                "widgets_values": widgets,
            }
        )
        x += 380
    for n in nodes:
        outs = output_types(n["type"])
        n["outputs"] = [
            {"name": t.lower(), "type": t, "links": outputs_links.get((str(n["id"]), i), []), "slot_index": i}
            for i, t in enumerate(outs)
        ]
    return {
        "last_node_id": max(int(k) for k in graph),
        "last_link_id": link_id,
        "nodes": nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }


def ui_to_api(workflow: dict, input_types: InputTypes) -> dict:
    """The API graph an editor workflow queues (the inverse of :func:`api_to_ui`)."""
    link_src = {l[0]: (str(l[1]), l[2]) for l in workflow["links"]}
    graph = {}
    for n in workflow["nodes"]:
        spec = input_types(n["type"])
        values = list(n.get("widgets_values", []))
        inputs: dict[str, Any] = {}
        socket_links = {s["name"]: s.get("link") for s in n.get("inputs", [])}
        for name, typ, opts in _inputs_in_order(spec):
            if _is_widget(typ, opts):
                if values:
                    inputs[name] = values.pop(0)
                    if opts.get("image_upload") and values:
                        values.pop(0)
            elif socket_links.get(name) is not None:
                src = link_src[socket_links[name]]
                inputs[name] = [src[0], src[1]]
        graph[str(n["id"])] = {"class_type": n["type"], "inputs": inputs}
    return graph


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
