"""One message per missing model: the folder it goes into, the method that needs it, where to get it.

Used by the nodes' ``missing_models`` (see :mod:`portraitos.services.validation`): IdentityLoader's face
pack, and PortraitGenerate's InstantID / IP-Adapter FaceID files. The face pack that InstantID uses
(antelopev2) is named with InstantID's own files when those are missing too, so that the selfie
templates' one message lists everything the artist still has to put in place.
"""

from __future__ import annotations

import folder_paths

from portraitos.engine.generation.defaults import FACEID, INSTANTID, KEEP_FACE
from portraitos.services import identity_adapters as adapters
from portraitos.services.face_packs import missing_face_model_message
from portraitos.services.model_sources import GENERATION_SOURCES, ModelSource


def _line(source: ModelSource) -> str:
    return f"• {source.name} → ComfyUI/{source.folder}: {source.page}"


def _folders(folder: str) -> str:
    return ", ".join(folder_paths.get_folder_paths(folder))


def instantid_missing(adapter_file: str = "auto", controlnet_file: str = "auto", identitynet: bool = True) -> list[str]:
    """InstantID's files that are not installed, one line each (folder, official page): its adapter
    (``ip-adapter.bin`` in ``models/instantid/``) and, when ``identitynet``, its IdentityNet ControlNet in
    ``models/controlnet/``. A file chosen by name must be there; "auto" needs one candidate."""
    lines = []
    if adapter_file in (None, "auto"):
        have_adapter = bool(adapters.adapter_files(INSTANTID))
    else:
        have_adapter = folder_paths.get_full_path(adapters.ADAPTER_FOLDERS[INSTANTID], adapter_file) is not None
    if not have_adapter:
        lines.append(_line(GENERATION_SOURCES[INSTANTID]) + f" (looked in {_folders('instantid')})")
    if identitynet:
        if controlnet_file in (None, "auto"):
            have_net = bool(adapters.controlnet_candidates())
        else:
            have_net = folder_paths.get_full_path("controlnet", controlnet_file) is not None
        if not have_net:
            lines.append(_line(GENERATION_SOURCES["controlnet"]) + f" (looked in {_folders('controlnet')})")
    return lines


def face_model_message(face_model: str | None) -> str:
    """The face pack is not installed: where it goes and where to get it; for InstantID's pack
    (antelopev2) also InstantID's files that are missing."""
    message = missing_face_model_message(face_model)
    if face_model in (None, "antelopev2") or str(face_model).startswith("("):
        more = instantid_missing()
        if more:
            head = "For InstantID portraits (PortraitGenerate, method InstantID) also not installed:"
            message += "\n" + head + "\n" + "\n".join(more)
    return message


def generation_message(
    method: str | None, adapter_file: str | None, controlnet_file: str | None, controlnet_strength: float | None
) -> str | None:
    """PortraitGenerate's files for ``method`` that are not installed, as one message, or None. "auto"
    and "keep face" are decided by the identity when the node runs, and checked then."""
    if method == INSTANTID:
        lines = instantid_missing(adapter_file or "auto", controlnet_file or "auto", (controlnet_strength or 0) > 0)
        if lines:
            return (
                "method InstantID needs files that are not installed:\n"
                + "\n".join(lines)
                + _named(adapter_file, controlnet_file)
            )
    elif method == FACEID:
        folder = adapters.ADAPTER_FOLDERS[FACEID]
        if adapter_file in (None, "auto"):
            have = bool(adapters.adapter_files(FACEID))
        else:
            have = folder_paths.get_full_path(folder, adapter_file) is not None
        if not have:
            return (
                f"method {FACEID} needs its adapter, not installed:\n"
                f"{_line(GENERATION_SOURCES[FACEID])} (looked in {_folders(folder)})" + _named(adapter_file, None)
            )
    # "keep face" uses no adapter: a template's named files are then not needed
    return None if method == KEEP_FACE else _unknown_named(adapter_file, controlnet_file)


def _unknown_named(adapter_file: str | None, controlnet_file: str | None) -> str | None:
    """A file chosen by name that no adapter folder (or, for IdentityNet, the controlnet folder) holds
    ("auto" decides the method when the node runs): the name is refused before anything runs."""
    lines = []
    folders = sorted(set(adapters.ADAPTER_FOLDERS.values()))
    if adapter_file not in (None, "auto") and not any(folder_paths.get_full_path(f, adapter_file) for f in folders):
        lines.append(
            f"adapter_file {adapter_file!r} is not installed (looked in {', '.join(_folders(f) for f in folders)}): "
            "choose an installed file or 'auto'"
        )
    if controlnet_file not in (None, "auto") and folder_paths.get_full_path("controlnet", controlnet_file) is None:
        lines.append(
            f"controlnet_file {controlnet_file!r} is not installed (looked in {_folders('controlnet')}): "
            "choose an installed file or 'auto'"
        )
    return "\n".join(lines) or None


def _named(adapter_file: str | None, controlnet_file: str | None) -> str:
    """For files chosen by name: the installed ones could be chosen instead."""
    named = [
        f"{k} {v!r}"
        for k, v in (("adapter_file", adapter_file), ("controlnet_file", controlnet_file))
        if v not in (None, "auto")
    ]
    if not named:
        return ""
    return f"\n({' and '.join(named)} chosen by name: put the file there under that name, or choose yours or 'auto')"
