"""The batch manifest: JSON Lines, one job per line.

    {"id": "cust-0042", "workflow": "workflows/api/portrait_85mm_f1.8_warm.json",
     "images": {"1": "selfies/cust-0042.jpg"}, "set": {"4.f_number": 1.2}}

``id``: letters, digits, ``.``, ``_``, ``-`` (it names the output folder and the engine's task); unique.
``workflow``: an API-format graph or an editor workflow (converted on the worker with its server's
``/object_info``). ``images``: node (id, type or title) → picture to upload into that node's ``image``.
``set``: like run_workflow.py's ``--set``, either ``{"NODE.INPUT": value}`` or ``["NODE.INPUT=VALUE", ...]``.
Relative paths are taken from the manifest's folder. A malformed line, or a manifest that is not a
readable regular file of UTF-8 text, stops the batch before it starts (exit 2); a job whose workflow or
picture is missing or unreadable, whose picture lies outside the pictures root (``--pictures-root``, by
default the manifest's folder) or is not a picture, is reported failed and the others run. Blank lines
and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..files import FileProblem, file_problem, parse_json, picture_problem, read_json, read_text
from ..run_workflow import EXIT_USAGE, Failure
from ..workflow_names import resolve_workflow

JOB_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
KEYS = {"id", "workflow", "images", "set"}


def _sets(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{k}={json.dumps(v)}" for k, v in value.items()]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    raise Failure(f'{where}: "set" must be {{"NODE.INPUT": value}} or ["NODE.INPUT=VALUE", ...]', EXIT_USAGE)


def read_manifest(path: Path, pictures_root: Path | None = None) -> list[dict]:
    """The jobs of a manifest, each with its workflow loaded and its paths made absolute; a
    :class:`Failure` (exit 2) naming the line for anything malformed, or for a manifest that is not a
    readable regular file of UTF-8 text (at most ``files.MAX_JSON_BYTES``).

    ``pictures_root``: the folder every picture must lie in (after following links); default the
    manifest's own folder. A picture outside it, or a file that is not a picture (PNG, JPEG, WebP, GIF,
    BMP, TIFF), fails its job."""
    path = Path(path)
    try:
        lines = read_text(path, "manifest").splitlines()
    except FileProblem as e:
        raise Failure(str(e), EXIT_USAGE) from None
    base = path.resolve().parent
    root = Path(pictures_root).resolve() if pictures_root is not None else base
    if file_problem(root) != "is a directory, not a file":
        raise Failure(f"pictures root {root} is not a folder", EXIT_USAGE)
    workflows: dict[Path, dict] = {}
    jobs, seen = [], {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{n}"
        try:
            item = parse_json(line, where)
        except FileProblem as e:
            raise Failure(str(e), EXIT_USAGE) from None
        if not isinstance(item, dict):
            raise Failure(f"{where}: not a JSON object", EXIT_USAGE)
        unknown = set(item) - KEYS
        if unknown:
            raise Failure(f"{where}: unknown keys {sorted(unknown)}; a job has {sorted(KEYS)}", EXIT_USAGE)
        job_id = item.get("id")
        if not isinstance(job_id, str) or not JOB_ID.match(job_id) or job_id.endswith((".tmp", ".")):
            raise Failure(f"{where}: id {job_id!r} must be 1-128 letters, digits, '.', '_' or '-'", EXIT_USAGE)
        if job_id in seen:
            raise Failure(f"{where}: id {job_id!r} is already used on line {seen[job_id]}", EXIT_USAGE)
        seen[job_id] = n
        wf_text = item.get("workflow")
        if not isinstance(wf_text, str) or not wf_text:
            raise Failure(f'{where}: "workflow" must name a workflow file', EXIT_USAGE)
        errors = []  # the job's own input is wrong: it is reported failed, the batch goes on
        wf = resolve_workflow((base / wf_text).resolve())
        if wf not in workflows:
            try:
                workflows[wf] = read_json(wf, "workflow file")
            except FileProblem as e:
                workflows[wf] = str(e)
        if isinstance(workflows[wf], str):
            errors.append(workflows[wf])
        images = item.get("images") or {}
        if not isinstance(images, dict) or not all(isinstance(v, str) for v in images.values()):
            raise Failure(f'{where}: "images" must be {{"NODE": "picture path"}}', EXIT_USAGE)
        resolved = {}
        for node, p in images.items():
            img = (base / p).resolve()
            if not img.is_relative_to(root):
                errors.append(f"picture {p!r} (for node {node}) lies outside the pictures root {root}")
                continue
            problem = file_problem(img) or picture_problem(img)
            if problem:
                errors.append(f"picture {img} (for node {node}) {problem}")
            resolved[str(node)] = str(img)
        jobs.append(
            {
                "id": job_id,
                "workflow": workflows[wf],
                "workflow_file": str(wf),
                "images": resolved,
                "set": _sets(item.get("set"), where),
                **({"error": "; ".join(errors)} if errors else {}),
            }
        )
    if not jobs:
        raise Failure(f"manifest {path} has no jobs", EXIT_USAGE)
    return jobs
