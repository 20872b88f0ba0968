"""IdentityLoader: one selfie (or a few) becomes a stored identity, reusable by name forever."""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import folder_paths
import numpy as np
import torch
from comfy_api.latest import io, ui

from ..engine.colour import to_uint8_rgb
from ..engine.face_analysis import PROVIDERS, FacePack, analyse, draw_preview, load_pack
from ..engine.identity import (IdentityError, Identity, build_identity, find_by_name, identity_path, list_identities,
                               load_identity, merge, save_identity, sanitize_name)
from . import runtime
from .types import CATEGORY, Identity as IdentityType

log = logging.getLogger("PortraitOS")
MODES = ["create", "update", "load"]
NONE = "(none stored yet)"

for _name in ("identities", "insightface"):
    if _name not in folder_paths.folder_names_and_paths:
        folder_paths.add_model_folder_path(_name, os.path.join(folder_paths.models_dir, _name))

_packs: dict[tuple[str, str, str], FacePack] = {}
_packs_lock = threading.Lock()


def identities_dir() -> Path:
    return Path(folder_paths.get_folder_paths("identities")[0])


def insightface_roots() -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths("insightface")]


def face_packs() -> list[str]:
    found = []
    for root in insightface_roots():
        models = root / "models"
        if models.is_dir():
            found += [p.name for p in sorted(models.iterdir()) if p.is_dir() and list(p.glob("*.onnx"))]
    return sorted(set(found)) or ["antelopev2", "buffalo_l"]


def _pack(name: str, provider: str) -> FacePack:
    roots = insightface_roots()
    root = next((r for r in roots if (r / "models" / name).is_dir()), roots[0])
    key = (str(root), name, provider)
    with _packs_lock:
        if key not in _packs:
            _packs[key] = load_pack(root, name, provider)
        return _packs[key]


def _rgb_uint8(image: torch.Tensor) -> np.ndarray:
    img = image if image.shape[-1] >= 3 else image.expand(*image.shape[:-1], 3)
    return to_uint8_rgb(img)


class IdentityLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        stored = list_identities(identities_dir()) or [NONE]
        return io.Schema(
            node_id="IdentityLoader",
            display_name="Identity Loader",
            category=CATEGORY,
            description="Create an identity from one selfie (or a batch of the same person) with InsightFace, store "
                        "it as models/identities/<name>.safetensors, or load a stored one by name.",
            inputs=[
                io.Combo.Input("mode", options=MODES, default="create",
                               tooltip="create: new name; update: add photos to a stored identity; load: by name"),
                io.String.Input("name", default="me", tooltip="Name to create or update (letters, digits, _ . -)"),
                io.Combo.Input("stored_identity", options=stored, tooltip="The identity to load (mode load)"),
                io.Combo.Input("face_model", options=face_packs(),
                               tooltip="InsightFace pack in models/insightface/models/<pack>/"),
                io.Combo.Input("provider", options=list(PROVIDERS), default="CPU"),
                io.Int.Input("face_index", default=-1, min=-1, max=32, tooltip="-1 = the largest face"),
                io.Image.Input("image", optional=True, tooltip="Selfie(s) for create/update"),
            ],
            outputs=[
                IdentityType.Output(display_name="identity"),
                io.Image.Output(display_name="aligned_face"),
                io.Image.Output(display_name="preview"),
            ],
        )

    @classmethod
    def validate_inputs(cls, mode="create", name="me", stored_identity=NONE, **_) -> bool | str:
        try:
            if mode == "load":
                if stored_identity in (None, NONE) or find_by_name(identities_dir(), stored_identity) is None:
                    return f"no stored identity {stored_identity!r} in {identities_dir()}; create one first"
            else:
                sanitize_name(name)
        except IdentityError as e:
            return str(e)
        return True

    @classmethod
    def fingerprint_inputs(cls, mode="create", stored_identity=NONE, **_):
        if mode == "load":
            p = find_by_name(identities_dir(), stored_identity) if stored_identity != NONE else None
            return f"{p}:{p.stat().st_mtime_ns}" if p else ""
        return float("nan")  # create/update always run (they write files)

    @classmethod
    def execute(cls, mode="create", name="me", stored_identity=NONE, face_model="antelopev2", provider="CPU",
                face_index=-1, image=None) -> io.NodeOutput:
        folder = identities_dir()
        if mode == "load":
            identity = load_identity(identity_path(folder, stored_identity))
            preview = torch.from_numpy(identity.tensors["crop_224"][:1].numpy()).float() / 255
            return io.NodeOutput(identity, _crop(identity), preview,
                                 ui=ui.PreviewText(_describe(identity, "loaded")))
        if image is None:
            raise IdentityError(f"mode {mode!r} needs a selfie on the image input")
        name = sanitize_name(name)
        existing = find_by_name(folder, name)
        if mode == "update" and existing is None:
            raise IdentityError(f"there is no stored identity {name!r} to update; use mode 'create'")
        if mode == "create" and existing is not None:
            # queueing the same workflow again is not an error: same photos and pack -> the stored identity
            stored = load_identity(existing)
            hashes = [hashlib.sha256(np.ascontiguousarray(_rgb_uint8(image[i])).tobytes()).hexdigest()
                      for i in range(image.shape[0])]
            if stored.meta.get("source_sha256") == hashes and stored.meta.get("model_pack") == face_model:
                return io.NodeOutput(stored, _crop(stored), stored.tensors["crop_224"].float() / 255,
                                     ui=ui.PreviewText(_describe(stored, "already stored from these photos")))
            raise IdentityError(f"identity {name!r} already exists ({existing}) with other photos; use mode "
                                "'update' to add these photos, or choose another name")
        pack = _pack(face_model, provider)
        records, warnings, previews = [], [], []
        bar = runtime.progress_callback(image.shape[0])
        for i in range(image.shape[0]):
            runtime.check_interrupt()
            rgb = _rgb_uint8(image[i])
            rec, warn, faces = analyse(pack, rgb, face_index)
            records.append(rec)
            warnings += [f"photo {i + 1}: {w}" for w in warn]
            previews.append(torch.from_numpy(draw_preview(rgb, faces, max(face_index, 0))).float() / 255)
            bar(i + 1, image.shape[0])
        for w in warnings:
            log.warning("IdentityLoader: %s", w)
        identity = build_identity(name, records, face_model, warnings)
        if mode == "update":
            identity = merge(load_identity(identity_path(folder, name)), identity)
        path = save_identity(identity, folder, overwrite=(mode == "update"))
        text = _describe(identity, f"saved to {path.name}") + ("\n" + "\n".join(warnings) if warnings else "")
        return io.NodeOutput(identity, _crop(identity), torch.stack(previews), ui=ui.PreviewText(text))


def _crop(identity: Identity) -> torch.Tensor:
    return identity.tensors["crop_224"].float() / 255


def _describe(identity: Identity, what: str) -> str:
    return f"identity {identity.name!r} ({identity.count} photo(s), pack {identity.meta.get('model_pack')}): {what}"
