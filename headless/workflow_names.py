"""Names the shipped workflows had before they were shortened for the editor's template browser, and
the file an old name now means: a script or manifest that still names
``workflows/api/portrait_85mm_f1.8_warm-cinematic.json`` runs ``portrait_85mm_f1.8_warm.json``.

Standard library only (the headless client runs without the pack installed).
"""

from __future__ import annotations

import sys
from pathlib import Path

# old file stem -> new file stem (tests/tools/test_workflow_files.py checks every new one is shipped)
RENAMED = {
    "portrait_85mm_f1.8_warm-cinematic": "portrait_85mm_f1.8_warm",
    "portrait_85mm_f1.2_warm-cinematic": "portrait_85mm_f1.2_warm",
    "portrait_85mm_f2.8_warm-cinematic": "portrait_85mm_f2.8_warm",
    "portrait_50mm_f1.8_warm-cinematic": "portrait_50mm_f1.8_warm",
    "portrait_135mm_f2_warm-cinematic": "portrait_135mm_f2_warm",
    "portrait_85mm_f1.8_cool-studio": "portrait_85mm_f1.8_cool",
    "portrait_85mm_f1.8_golden-hour": "portrait_85mm_f1.8_golden",
    "portrait_85mm_f1.8_soft-window": "portrait_85mm_f1.8_soft",
    "portrait_85mm_f1.8_neon-night": "portrait_85mm_f1.8_neon",
    "selfie-to-20-portraits_85mm_f1.8_warm-cinematic": "selfie_85mm_f1.8_warm",
    "selfie-to-20-portraits_85mm_f1.2_warm-cinematic": "selfie_85mm_f1.2_warm",
    "selfie-to-20-portraits_85mm_f2.8_warm-cinematic": "selfie_85mm_f2.8_warm",
    "selfie-to-20-portraits_50mm_f1.8_warm-cinematic": "selfie_50mm_f1.8_warm",
    "selfie-to-20-portraits_135mm_f2_warm-cinematic": "selfie_135mm_f2_warm",
    "selfie-to-20-portraits_85mm_f1.8_cool-studio": "selfie_85mm_f1.8_cool",
    "selfie-to-20-portraits_85mm_f1.8_golden-hour": "selfie_85mm_f1.8_golden",
    "selfie-to-20-portraits_85mm_f1.8_soft-window": "selfie_85mm_f1.8_soft",
    "selfie-to-20-portraits_85mm_f1.8_neon-night": "selfie_85mm_f1.8_neon",
    "selfie-to-20-portraits_stored-identity_85mm_f1.8_warm-cinematic": "selfie_stored-identity",
}


_told: set[Path] = set()


def resolve_workflow(path: Path, warn: bool = True) -> Path:
    """``path`` itself when it exists; else, when its name is an old shipped workflow name and the
    renamed file sits beside it, that file (saying so on stderr, once a name); else ``path`` unchanged."""
    path = Path(path)
    if path.exists() or path.suffix != ".json" or path.stem not in RENAMED:
        return path
    new = path.with_name(RENAMED[path.stem] + ".json")
    if not new.is_file():
        return path
    if warn and path not in _told:
        _told.add(path)
        print(f"{path.name} is now called {new.name}: running {new}", file=sys.stderr)
    return new
