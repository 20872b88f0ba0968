"""Words the editor's node search finds a node by, beyond its id and display name.

Newer frontends (1.5x) search ``search_aliases`` from ``/object_info`` too; ComfyUI 0.3.75's V3 schema
has no such field, so :class:`SearchWords` adds it to the node's info, from the node class's
``SEARCH_ALIASES``. Older frontends read only ids and display names: the display names carry the
most typed words (*portrait*, *bokeh*, *blur*, *DoF*) themselves.
"""

from __future__ import annotations

from typing import Any


class SearchWords:
    """Mixin for a V3 node (before ``io.ComfyNode`` in the bases): its ``SEARCH_ALIASES`` in its info."""

    SEARCH_ALIASES: tuple[str, ...] = ()

    @classmethod
    def GET_NODE_INFO_V1(cls) -> dict[str, Any]:  # noqa: N802  (ComfyUI's name)
        info = super().GET_NODE_INFO_V1()  # type: ignore[misc]  # the mixin precedes io.ComfyNode
        if not info.get("search_aliases"):  # a ComfyUI whose schema fills it keeps its own
            info["search_aliases"] = ["portrait", *cls.SEARCH_ALIASES]
        return info
