"""Run a ComfyUI workflow on a server from the command line and download what it made.

    python headless/run_workflow.py WORKFLOW [--image NODE=PATH ...] [--set NODE.INPUT=VALUE ...]
                                   --server URL --out DIR

WORKFLOW is an API-format graph (``workflows/api/*.json``, the editor's "Export (API)") or an
editor workflow (``workflows/*.json``), converted with the server's ``/object_info``.
``--image 1=selfie.jpg`` uploads the file (``/upload/image``) and puts it into node 1's ``image``;
``--set 4.f_number=1.2`` sets an input (JSON values: numbers, true/false, "text"; anything else is
text). NODE is a node id, or a node type or title that names exactly one node.

Progress comes over ComfyUI's websocket (``/ws``) when ``websocket-client`` is installed, else by
polling ``/history``. Every image in the outputs (saved and previews) is downloaded into DIR and its
path printed. Exit status: 0 done; 1 the server refused the graph or it failed while running (the
server's ``node_errors`` / execution error are printed); 2 a bad argument or input file; 3 the server
cannot be reached. Standard library only, plus ``websocket-client`` when present.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

try:
    from .files import MAX_PICTURE_BYTES, FileProblem, file_problem, read_bytes, read_json
    from .workflow_format import WorkflowError, inputs_in_order, is_ui_format, ui_to_api
    from .workflow_names import resolve_workflow
except ImportError:  # run as a file (python headless/run_workflow.py): its own folder is on sys.path
    from files import MAX_PICTURE_BYTES, FileProblem, file_problem, read_bytes, read_json  # type: ignore[no-redef]
    from workflow_format import WorkflowError, inputs_in_order, is_ui_format, ui_to_api
    from workflow_names import resolve_workflow

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class Failure(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


class Client:
    def __init__(self, server: str, timeout: float = 60.0):
        if "://" not in server:
            server = "http://" + server
        self.base = server.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _open(self, req: urllib.request.Request | str):
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise Failure(f"cannot reach ComfyUI at {self.base}: {reason}", EXIT_UNREACHABLE) from None

    def get(self, path: str) -> bytes:
        with self._open(self.base + path) as r:
            return r.read()

    def get_json(self, path: str):
        return json.loads(self.get(path))

    def post_json(self, path: str, payload) -> tuple[int, dict]:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with self._open(req) as r:
                body = r.read()
                return r.status, json.loads(body) if body else {}
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body)
            except ValueError:
                return e.code, {"error": body.decode(errors="replace")}

    def upload(self, path: Path) -> str:
        """Upload an image file into the server's input folder; the name LoadImage takes."""
        try:
            data = read_bytes(path, "input file", MAX_PICTURE_BYTES)
        except FileProblem as e:
            raise Failure(str(e), EXIT_USAGE) from None
        info = self.upload_bytes(path.name, data, what=str(path))
        return f"{info['subfolder']}/{info['name']}" if info.get("subfolder") else info["name"]

    def upload_bytes(self, name: str, data: bytes, what: str | None = None, subfolder: str = "") -> dict:
        """Upload ``data`` as the image file ``name`` (``/upload/image``, overwriting) into the input folder's
        ``subfolder``; the server's answer (``name``, ``subfolder``, ``type``)."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'
        if subfolder:
            tail += f'--{boundary}\r\nContent-Disposition: form-data; name="subfolder"\r\n\r\n{subfolder}\r\n'
        tail += f"--{boundary}--\r\n"
        req = urllib.request.Request(
            self.base + "/upload/image",
            data=head + data + tail.encode(),
            method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        try:
            with self._open(req) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise Failure(
                f"uploading {what or name} failed: {e.code} {e.read().decode(errors='replace')[:300]}"
            ) from None


# --- the graph --------------------------------------------------------------------------------------


def read_workflow(path: Path):
    """The JSON of the workflow file ``path`` (a shipped workflow's old name finds its renamed file,
    ``workflow_names.RENAMED``); a :class:`Failure` (exit 2) when it is not a readable regular file of UTF-8
    JSON, or larger than ``files.MAX_JSON_BYTES``."""
    path = resolve_workflow(path, warn=False)
    try:
        return read_json(path, "workflow file")
    except FileProblem as e:
        raise Failure(str(e), EXIT_USAGE) from None


def load_graph(path: Path, client: Client, data=None) -> tuple[dict, dict | None]:
    """The API graph of WORKFLOW and, for an editor workflow, the server's /object_info. A shipped
    workflow's old name finds its renamed file (``workflow_names.RENAMED``). ``data``: the workflow's JSON
    when already read (:func:`read_workflow`)."""
    path = resolve_workflow(path)
    if data is None:
        data = read_workflow(path)
    if is_ui_format(data):
        info = client.get_json("/object_info")
        try:
            return ui_to_api(data, lambda t: info[t], known=lambda t: t in info), info
        except WorkflowError as e:
            raise Failure(f"{path}: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        raise Failure(
            f"{path} is neither an API-format graph ({{id: {{class_type, inputs}}}}) nor an editor workflow",
            EXIT_USAGE,
        )
    return data, None


def find_node(graph: dict, ref: str, what: str) -> str:
    if ref in graph:
        return ref
    hits = [nid for nid, n in graph.items() if ref in (n.get("class_type"), (n.get("_meta") or {}).get("title"))]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(f"{nid} ({n.get('class_type')})" for nid, n in sorted(graph.items(), key=lambda kv: kv[0]))
    if hits:
        raise Failure(f"{what}: {ref!r} names nodes {hits}; give the node id. Nodes: {listing}", EXIT_USAGE)
    raise Failure(f"{what}: no node {ref!r} in the workflow. Nodes: {listing}", EXIT_USAGE)


def parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_sets(graph: dict, sets: list[str], object_info: dict | None) -> None:
    for item in sets:
        target, eq, value = item.partition("=")
        node_ref, dot, name = target.rpartition(".")
        if not eq or not dot or not name:
            raise Failure(f"--set {item!r}: expected NODE.INPUT=VALUE, e.g. 4.f_number=1.2", EXIT_USAGE)
        nid = find_node(graph, node_ref, f"--set {item!r}")
        node = graph[nid]
        allowed = set(node["inputs"])
        if object_info and node["class_type"] in object_info:
            allowed |= {n for n, *_ in inputs_in_order(object_info[node["class_type"]])}
        if name not in allowed:
            raise Failure(
                f"--set {item!r}: node {nid} ({node['class_type']}) has no input {name!r}; it has {sorted(allowed)}",
                EXIT_USAGE,
            )
        node["inputs"][name] = parse_value(value)


def apply_images(graph: dict, images: list[str], client: Client) -> None:
    for item in images:
        node_ref, eq, path_text = item.partition("=")
        if not eq or not path_text:
            raise Failure(f"--image {item!r}: expected NODE=PATH, e.g. 1=selfie.jpg", EXIT_USAGE)
        path = Path(path_text).expanduser()
        problem = file_problem(path)
        if problem:
            raise Failure(f"--image {item!r}: input file {path} {problem}", EXIT_USAGE)
        nid = find_node(graph, node_ref, f"--image {item!r}")
        if "image" not in graph[nid]["inputs"]:
            raise Failure(f"--image {item!r}: node {nid} ({graph[nid]['class_type']}) has no 'image' input", EXIT_USAGE)
        if isinstance(graph[nid]["inputs"]["image"], list):
            source = graph[nid]["inputs"]["image"][0]
            raise Failure(
                f"--image {item!r}: node {nid} ({graph[nid]['class_type']}) takes its image from node {source} "
                "(a link); give the node that loads the picture (a LoadImage) instead",
                EXIT_USAGE,
            )
        graph[nid]["inputs"]["image"] = client.upload(path)


# --- running ----------------------------------------------------------------------------------------


def format_rejection(status: int, body: dict) -> str:
    lines = [f"the server refused the workflow ({status})"]
    err = body.get("error")
    if isinstance(err, dict):
        lines.append(f"  {err.get('message', '')}: {err.get('details', '')}".rstrip(": "))
    elif err:
        lines.append(f"  {err}")
    for nid, ne in (body.get("node_errors") or {}).items():
        seen = {}
        for e in ne.get("errors", []):
            # ComfyUI 0.3.75 repeats a node's validation message once per input its check names, each
            # prefixed "<input> - ": print the message once, with the inputs it was attached to
            details = e.get("details") or ""
            name, sep, rest = details.partition(" - ")
            text = f"{e.get('message', '')}: {rest if sep else details}".rstrip(": ")
            seen.setdefault(text, []).append(name if sep else None)
        for text, names in seen.items():
            inputs = [n for n in names if n]
            where = f" [inputs: {', '.join(inputs)}]" if len(inputs) > 1 else ""
            lines.append(f"  node {nid} ({ne.get('class_type')}): {text}{where}")
    return "\n".join(lines)


def format_execution_error(data: dict) -> str:
    lines = [
        f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
        f"{data.get('exception_type', '')}: {data.get('exception_message', '').strip()}"
    ]
    tb = data.get("traceback") or []
    if tb:
        lines.append("  " + "".join(tb[-3:]).strip().replace("\n", "\n  "))
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, graph: dict, stream=sys.stderr):
        self.graph = graph
        self.stream = stream
        self.tty = stream.isatty()
        self.node = None

    def executing(self, node: str | None) -> None:
        if node is None:
            return
        self.node = node
        if not self.tty:
            print(f"running node {node} ({self.graph.get(node, {}).get('class_type', '?')})", file=self.stream)

    def progress(self, value: int, maximum: int) -> None:
        if not self.tty or maximum <= 0:
            return
        width = 30
        filled = int(width * value / maximum)
        name = self.graph.get(self.node, {}).get("class_type", "")
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * value // maximum:3d}% {name:<24}")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def connect_ws(client: Client, timeout: float):
    try:
        import websocket  # websocket-client
    except ImportError:
        return None
    scheme = "wss" if client.base.startswith("https") else "ws"
    url = f"{scheme}://{client.base.split('://', 1)[1]}/ws?clientId={client.client_id}"
    try:
        return websocket.create_connection(url, timeout=timeout)
    except Exception as e:  # a server without /ws, a proxy: polling still works
        print(f"websocket {url} unavailable ({e}); polling /history", file=sys.stderr)
        return None


def follow_ws(ws, prompt_id: str, bar: Progress, deadline: float) -> None:
    import websocket

    while time.time() < deadline:
        try:
            raw = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketException, OSError):
            return  # the history will say how it ended
        if isinstance(raw, bytes):
            continue  # preview frames
        msg = json.loads(raw)
        data = msg.get("data", {})
        if data.get("prompt_id") not in (None, prompt_id):
            continue
        kind = msg.get("type")
        if kind == "executing":
            if data.get("node") is None and data.get("prompt_id") == prompt_id:
                return
            bar.executing(data.get("node"))
        elif kind == "progress":
            bar.progress(int(data.get("value", 0)), int(data.get("max", 0)))
        elif kind in ("execution_success", "execution_error", "execution_interrupted"):
            return
    raise Failure(f"the workflow did not finish within the timeout (prompt {prompt_id})")


def wait_history(client: Client, prompt_id: str, deadline: float, poll: float = 0.5) -> dict:
    while time.time() < deadline:
        hist = client.get_json(f"/history/{urllib.parse.quote(prompt_id)}")
        if prompt_id in hist:  # ComfyUI adds the entry when the prompt has finished
            return hist[prompt_id]
        time.sleep(poll)
    raise Failure(f"the workflow did not finish within the timeout (prompt {prompt_id})")


def download_outputs(client: Client, entry: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for nid, node_out in entry.get("outputs", {}).items():
        for ref in node_out.get("images", []):
            q = urllib.parse.urlencode({k: ref.get(k, "") for k in ("filename", "subfolder", "type")})
            dest = out / Path(ref["filename"]).name
            n = 1
            while dest in written:  # the same name from another folder of the server
                dest = dest.with_name(f"{Path(ref['filename']).stem}_{n}{dest.suffix}")
                n += 1
            dest.write_bytes(client.get(f"/view?{q}"))
            written.append(dest)
            print(f"node {nid}: {dest}")
    return written


def run(args) -> int:
    client = Client(args.server)
    for item in args.image:  # the named files first: a bad one is exit 2 whether or not a server answers
        path = Path(item.partition("=")[2]).expanduser()
        problem = file_problem(path) if item.partition("=")[2] else None
        if problem:
            raise Failure(f"--image {item!r}: input file {path} {problem}", EXIT_USAGE)
    data = read_workflow(Path(args.workflow))
    client.get("/system_stats")  # the server is there (else exit 3 with the reason)
    graph, object_info = load_graph(Path(args.workflow), client, data)
    apply_sets(graph, args.set, object_info)
    apply_images(graph, args.image, client)
    deadline = time.time() + args.timeout
    ws = None if args.no_websocket else connect_ws(client, timeout=5.0)
    try:
        status, resp = client.post_json("/prompt", {"prompt": graph, "client_id": client.client_id})
        if status != 200:
            raise Failure(format_rejection(status, resp))
        prompt_id = resp["prompt_id"]
        if resp.get("node_errors"):
            # ComfyUI queues the outputs that validated and drops the others: a partial run is no result
            client.post_json("/queue", {"delete": [prompt_id]})
            client.post_json("/interrupt", {"prompt_id": prompt_id})
            raise Failure(
                format_rejection(status, resp).replace("refused the workflow (200)", "refused part of the workflow")
            )
        print(f"queued prompt {prompt_id}", file=sys.stderr)
        bar = Progress(graph)
        try:
            if ws is not None:
                follow_ws(ws, prompt_id, bar, deadline)
            entry = wait_history(client, prompt_id, deadline)
        except KeyboardInterrupt:
            client.post_json("/interrupt", {"prompt_id": prompt_id})
            raise Failure("interrupted; asked the server to stop the workflow") from None
        finally:
            bar.end()
    finally:
        if ws is not None:
            ws.close()
    status = entry.get("status", {})
    if status.get("status_str") != "success":
        errors = [m[1] for m in status.get("messages", []) if m[0] == "execution_error"]
        text = "\n".join(format_execution_error(e) for e in errors) or json.dumps(status)[:2000]
        raise Failure(f"the workflow failed on the server:\n{text}")
    written = download_outputs(client, entry, Path(args.out))
    if not written:
        print("the workflow finished without output images", file=sys.stderr)
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description="Run a ComfyUI workflow headless and download its images.",
        epilog="exit status: 0 done, 1 refused or failed on the server, 2 bad argument or file, 3 server unreachable",
    )
    ap.add_argument("workflow", help="API-format or editor workflow (.json)")
    ap.add_argument("--image", action="append", default=[], metavar="NODE=PATH", help="upload PATH into NODE's image")
    ap.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE", help="set an input")
    ap.add_argument("--server", default="http://127.0.0.1:8188", help="ComfyUI's address (default %(default)s)")
    ap.add_argument("--out", required=True, help="folder for the downloaded images")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the result")
    ap.add_argument("--no-websocket", action="store_true", help="poll /history instead of following /ws")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    raise SystemExit(main())
