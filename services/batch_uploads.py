"""The batch workers' pictures, removed from the server once their job has ended.

A batch worker uploads each job's pictures into ComfyUI's input folder, subfolder :data:`SUBFOLDER`
(``/upload/image``); ComfyUI has no way to delete an upload, so this pack adds one, for that subfolder only:

``POST /portraitos/batch/remove_upload`` with ``{"name": "<file name>"}`` removes
``<input>/portraitos_batch/<name>`` and answers ``{"removed": true|false}`` (false: it was not there);
400 for a name that is not a plain file name. Nothing outside the subfolder can be named.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("PortraitOS")

ROUTE = "/portraitos/batch/remove_upload"
SUBFOLDER = "portraitos_batch"


def remove_upload(input_dir: str, name: object) -> bool:
    """Remove ``<input_dir>/portraitos_batch/<name>``; True if it was there. ``ValueError`` for a name
    that is not a plain file name (no folders, no leading dot, no NUL)."""
    if not isinstance(name, str) or not name or len(name) > 255:
        raise ValueError("name must be the uploaded file's name")
    if "/" in name or "\\" in name or "\x00" in name or name.startswith(".") or os.path.basename(name) != name:
        raise ValueError(f"name {name!r} is not a plain file name")
    folder = os.path.realpath(os.path.join(input_dir, SUBFOLDER))
    path = os.path.join(folder, name)
    if os.path.dirname(os.path.realpath(path)) != folder or not os.path.isfile(path):
        return False
    os.remove(path)
    return True


def register_routes() -> bool:
    """Add the route to ComfyUI's server; False (nothing added) where no server runs (in-process tests)."""
    try:
        import folder_paths
        from aiohttp import web
        from server import PromptServer
    except ImportError:
        return False
    server = getattr(PromptServer, "instance", None)
    if server is None or getattr(server, "_portraitos_batch_routes", False):
        return False

    @server.routes.post(ROUTE)
    async def batch_remove_upload(request):
        try:
            body = await request.json()
            name = body.get("name") if isinstance(body, dict) else None
            return web.json_response({"removed": remove_upload(folder_paths.get_input_directory(), name)})
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)

    server._portraitos_batch_routes = True
    return True
