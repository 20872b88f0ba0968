"""The documentation cites only what exists: every repository path, command, module and node name in the
README, CONTRIBUTING.md, CHANGELOG.md and docs/*.md, every link and picture; the README fits on a page and
gives the test command CI runs. Read from the files alone (no ComfyUI: the node list is parsed from nodes/)."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README_MAX_LINES = 350

# ComfyUI's model folders the docs name as ``models/<folder>/…`` (the user's ComfyUI, not this repository)
COMFY_MODEL_FOLDERS = {
    "checkpoints",
    "clip_vision",
    "controlnet",
    "depth",
    "depthanything",
    "identities",
    "insightface",
    "instantid",
    "ipadapter",
    "loras",
    "upscale_models",
}
# files of other projects the docs name bare
EXTERNAL_FILES = {"main.py"}  # ComfyUI's launcher (`main.py --cpu`)
NUMBER_WORDS = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()


def doc_files() -> list[Path]:
    return [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]


def tracked_roots() -> set[str]:
    """Top-level names of the repository's tracked files (what a path in the docs may start with)."""
    try:
        names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
        roots = {line.split("/")[0] for line in names.splitlines() if line}
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked zip)
        roots = {p.name for p in REPO.iterdir()}
    return {r for r in roots if r and not r.startswith(".")} | {".ci"}


# ---------------------------------------------------------------------------------------------- parsing


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)


def inline_code(text: str) -> list[str]:
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", prose)


def markdown_links(text: str) -> list[str]:
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", prose)


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for a markdown file's headings (lower case, punctuation dropped, spaces to '-')."""
    anchors = set()
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    for title in re.findall(r"^#{1,6} +(.+?) *$", prose, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def path_tokens(code: str) -> list[str]:
    """Words of a code span or block that name something in the repository, as written."""
    try:
        words = shlex.split(code, comments=True)
    except ValueError:
        words = code.split()
    out = []
    for word in words:
        word = word.strip("'\"(),;:`")
        if "=" in word and not word.startswith(("-", "/")):
            word = word.split("=", 1)[1]  # --image 1=selfie.jpg, VAR=path
        if word:
            out.append(word)
    return out


# ------------------------------------------------------------------------------------------- resolving


def check_repo_path(token: str, roots: set[str]) -> str | None:
    """None when ``token`` is not a repository path or names what exists; else why not."""
    token = token.rstrip(".,")
    first = token.split("/")[0]
    if first not in roots or first == token and "." not in token:
        return None  # not a path into this repository (ComfyUI/…, out/, a bare word)
    if "/" not in token and not (REPO / token).exists():
        return f"{token}: no such file"
    parts = token.split("/")
    if parts[0] == "models" and len(parts) > 1 and parts[1] in COMFY_MODEL_FOLDERS:
        return None  # the user's ComfyUI model folder
    # placeholders: check what comes before the first one
    for i, part in enumerate(parts):
        if re.search(r"[<>{}…]|\[", part):
            parts = parts[:i]
            break
    if not parts:
        return None
    here = "/".join(p for p in parts if p)
    if "*" in here:
        return None if list(REPO.glob(here)) else f"{token}: matches nothing"
    return None if (REPO / here).exists() else f"{token}: no such path"


def module_file(dotted: list[str]) -> Path | None:
    base = REPO.joinpath(*dotted)
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def check_module(token: str, roots: set[str]) -> str | None:
    """``portraitos.a.b[.name]`` or ``engine.a.b[.name]``: the module exists and defines the name."""
    token = token.rstrip(".,")
    if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+", token):
        return None
    if re.search(r"\.(py|sh|md|json|txt|toml|js|mjs)$", token):
        return None  # a file name, not a module
    parts = token.split(".")
    if parts[0] == "portraitos":
        parts = parts[1:]
    elif parts[0] not in roots or not (REPO / parts[0]).is_dir():
        return None
    if not parts:
        return None
    for n in range(len(parts), 0, -1):
        found = module_file(parts[:n])
        if found is not None:
            rest = parts[n:]
            if not rest:
                return None
            if len(rest) == 1:
                tree = ast.parse(found.read_text())
                names = {
                    getattr(node, "name", None)
                    for node in ast.walk(tree)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                }
                for node in ast.walk(tree):
                    if isinstance(node, ast.Assign):
                        names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
                    elif isinstance(node, ast.ImportFrom):
                        names |= {a.asname or a.name for a in node.names}
                return None if rest[0] in names else f"{token}: {found.relative_to(REPO)} defines no {rest[0]}"
            return f"{token}: no module {'.'.join(parts[: n + 1])}"
    return f"{token}: no such module"


def program_of(word: str) -> Path | None:
    """The repository's Python program a command word runs: ``benchmarks/x.py``, ``tools/x.py``,
    ``headless/x.py`` or a ``portraitos.…`` module (after ``-m``)."""
    if re.fullmatch(r"(bench_\w+|soak)\.py", word):
        word = f"benchmarks/{word}"
    if re.fullmatch(r"(benchmarks|tools|headless|scripts)/[\w/]+\.py", word):
        path = REPO / word
        return path if path.is_file() else None
    if word.startswith("portraitos."):
        return module_file(word.split(".")[1:])
    return None


def option_sources(program: Path) -> str:
    """The program's text and that of the pack modules it imports (options parsed in a shared helper)."""
    text = program.read_text()
    sources = [text]
    for module in re.findall(r"^\s*(?:from|import) portraitos\.([\w.]+)", text, flags=re.M):
        found = module_file(module.split("."))
        if found is not None:
            sources.append(found.read_text())
    for module in re.findall(r"^\s*from \.([\w.]*) import", text, flags=re.M):
        found = module_file([*program.parent.relative_to(REPO).parts, *filter(None, module.split("."))])
        if found is not None:
            sources.append(found.read_text())
    return "\n".join(sources)


def unknown_options(command: str) -> list[str]:
    """``--option`` words given to one of the repository's programs that the program does not define."""
    words = path_tokens(command)
    for i, word in enumerate(words):
        program = program_of(word)
        if program is None or word.startswith("portraitos.") and (i == 0 or words[i - 1] != "-m"):
            continue  # a module named to another program (celery -A …) is not the one run
        defined = option_sources(program)
        out = []
        for option in words[i + 1 :]:
            option = option.split("=", 1)[0]
            if option.startswith("--") and not re.search(rf"[\"']{re.escape(option)}[\"']", defined):
                out.append(f"{option}: not an option of {program.relative_to(REPO)}")
        return out
    return []


def problems_in(doc: Path, roots: set[str]) -> list[str]:
    text = doc.read_text()
    found: list[str] = []
    spans = inline_code(text) + fenced_blocks(text)
    for span in spans:
        for token in path_tokens(span):
            if re.fullmatch(r"(bench_\w+|soak)\.py", token):
                token = f"benchmarks/{token}"
            for check in (check_repo_path, check_module):
                why = check(token, roots)
                if why:
                    found.append(why)
    for span in spans:
        for line in span.replace("\\\n", " ").splitlines():  # a command continued over lines is one
            found += unknown_options(line)
    for target in markdown_links(text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            found.append(f"link {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest.read_text()):
            found.append(f"link {target}: no heading #{anchor} in {dest.relative_to(REPO)}")
    return [f"{doc.relative_to(REPO)}: {p}" for p in found]


# ------------------------------------------------------------------------------------------------ nodes


def registered_nodes() -> dict[str, str]:
    """node_id -> display name of every node in ``nodes.NODES``, parsed (ComfyUI is not imported)."""
    init = ast.parse((REPO / "nodes" / "__init__.py").read_text())
    modules = {a.name: node.module for node in init.body if isinstance(node, ast.ImportFrom) for a in node.names}
    listed = next(
        node.value
        for node in init.body
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "NODES"
    )
    assert isinstance(listed, ast.List)
    out = {}
    for elt in listed.elts:
        assert isinstance(elt, ast.Name)
        source = (REPO / "nodes" / f"{modules[elt.id]}.py").read_text()
        schema = re.search(r'node_id="(\w+)",\s*display_name="([^"]+)"', source)
        assert schema, f"no node_id/display_name in nodes/{modules[elt.id]}.py"
        out[schema.group(1)] = schema.group(2)
    return out


def node_table_rows(text: str) -> list[tuple[str, str]]:
    """(node id, display name) of each ``| **NodeId** (Display name) |`` row."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\| \*\*(\w+)\*\* \((.+?)\) \|", line)
        if m:
            rows.append((m.group(1), m.group(2)))
    return rows


# ------------------------------------------------------------------------------------------------ tests


def test_every_cited_path_command_module_and_link_exists():
    roots = tracked_roots()
    problems = [p for doc in doc_files() for p in problems_in(doc, roots)]
    assert not problems, "\n".join(problems)


def test_the_checker_finds_a_broken_path_link_and_module(tmp_path):
    roots = tracked_roots()
    doc = REPO / "docs" / "_broken_for_test.md"
    doc.write_text(
        "# Broken\n\nRun `.venv/bin/python benchmarks/bench_nothing_here.py --x` and `scripts/missing.sh`;\n"
        "see [optics](optics.md#no-such-heading), [gone](gone.md) and ![](no_picture.jpg);\n"
        "`python -m portraitos.headless.no_such_module`, `engine.lens.depth_of_field.no_such_name`.\n"
        "```bash\nbash scripts/not_there.sh\n"
        ".venv/bin/python benchmarks/bench_bokeh.py \\\n    --only speed --no-such-option 3\n```\n"
    )
    try:
        problems = problems_in(doc, roots)
    finally:
        doc.unlink()
    joined = "\n".join(problems)
    for expected in (
        "benchmarks/bench_nothing_here.py",
        "scripts/missing.sh",
        "optics.md#no-such-heading",
        "gone.md",
        "no_picture.jpg",
        "portraitos.headless.no_such_module",
        "no_such_name",
        "scripts/not_there.sh",
        "--no-such-option: not an option of benchmarks/bench_bokeh.py",
    ):
        assert expected in joined, (expected, problems)
    assert len(problems) == 9, problems  # --only is bench_bokeh's


def test_every_file_named_bare_exists_somewhere():
    """``renderer.py``, ``chunks.py`` in a tree or a sentence: a tracked file has that name (a moved or
    deleted module is not left named in the docs). ComfyUI's own files are named as ``ComfyUI/…``."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
        names = {Path(line).name for line in listed.splitlines()}
    except (OSError, subprocess.CalledProcessError):
        names = {p.name for p in REPO.rglob("*") if p.is_file()}
    missing = []
    for doc in doc_files():
        for m in re.finditer(r"(?<![\w/.-])([A-Za-z_][\w-]*\.(?:py|sh|mjs))\b", doc.read_text()):
            if m.group(1) not in names | EXTERNAL_FILES:
                missing.append(f"{doc.relative_to(REPO)}: {m.group(1)}")
    assert not missing, "\n".join(sorted(set(missing)))


def test_node_tables_list_every_registered_node_by_its_id_and_display_name():
    nodes = registered_nodes()
    assert len(nodes) >= 9
    for doc in (REPO / "README.md", REPO / "docs" / "nodes.md"):
        rows = node_table_rows(doc.read_text())
        assert sorted(node for node, _ in rows) == sorted(nodes), doc.name
        for node, display in rows:
            assert nodes[node] == display, f"{doc.name}: {node} is shown as {nodes[node]!r}, not {display!r}"


def test_node_counts_in_the_docs_are_the_registered_count():
    count = NUMBER_WORDS[len(registered_nodes()) - 1]
    seen = 0
    for doc in doc_files():
        for m in re.finditer(rf"\b({'|'.join(NUMBER_WORDS)}) (?:ComfyUI |PortraitOS )?nodes\b", doc.read_text(), re.I):
            seen += 1
            assert m.group(1).lower() == count, f"{doc.relative_to(REPO)}: '{m.group(0)}', the pack has {count}"
    assert seen, "the docs say nowhere how many nodes there are"


def test_readme_fits_on_a_page_and_gives_the_ci_test_command():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    ci = (REPO / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines()]
    commands = [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]
    assert commands, ci
    blocks = "\n".join(fenced_blocks(readme))
    for command in commands:
        assert command in blocks, f"the README does not give CI's command {command!r}"


def test_node_groups_named_are_the_categories_the_nodes_use():
    source = (REPO / "services" / "socket_types.py").read_text()
    groups = re.findall(r'^CATEGORY_\w+ = f"\{CATEGORY\}/(\w+)"', source, flags=re.M)
    assert groups
    count = NUMBER_WORDS[len(groups) - 1]
    for doc in (REPO / "README.md", REPO / "docs" / "compatibility.md"):
        text = doc.read_text()
        m = re.search(rf"\b({'|'.join(NUMBER_WORDS)}) groups\b", text)
        assert m and m.group(1) == count, f"{doc.name}: the nodes are in {count} groups"
        for group in groups:
            assert f"**{group}**" in text, f"{doc.name} does not name the group {group}"
