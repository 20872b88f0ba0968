"""IdentityLoader: one selfie (or a few) becomes a stored identity, reusable by name forever."""

from __future__ import annotations

import logging

import numpy as np
import torch
from comfy_api.latest import io

from portraitos.engine.core.colour import to_uint8_rgb
from portraitos.engine.faces import PROVIDERS, FaceError, analyse, draw_preview
from portraitos.engine.identity import (
    MODES,
    RESTORE,
    Enrolment,
    Identity,
    IdentityError,
    enrol,
    find_by_name,
    list_identities,
    load_stored,
    restore_stored,
    sanitize_name,
)
from portraitos.services import runtime
from portraitos.services.face_packs import (
    NO_FACE_MODEL,
    face_pack,
    face_packs,
    identities_dir,
    pack_root,
)
from portraitos.services.missing_models import face_model_message
from portraitos.services.model_sources import FACE_SOURCES, where_to_get
from portraitos.services.readout import node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_IDENTITY
from portraitos.services.socket_types import Identity as IdentityType
from portraitos.services.validation import SchemaChecked

log = logging.getLogger("PortraitOS")
NONE = "(none stored yet)"


def _rgb_uint8(image: torch.Tensor) -> np.ndarray:
    img = image if image.shape[-1] >= 3 else image.expand(*image.shape[:-1], 3)
    return to_uint8_rgb(img)


def _image(pictures: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.ascontiguousarray(p)).float() / 255 for p in pictures])


def _crop(identity: Identity) -> torch.Tensor:
    return identity.tensors["crop_224"].float() / 255


class IdentityLoader(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("face id", "face embedding", "instantid", "insightface", "selfie")

    @classmethod
    def define_schema(cls) -> io.Schema:
        stored = list_identities(identities_dir()) or [NONE]
        packs = face_packs() or [NO_FACE_MODEL]
        return io.Schema(
            node_id="IdentityLoader",
            display_name="Face Identity Loader (portrait)",
            category=CATEGORY_IDENTITY,
            description="Remember a person's face: create an identity from one selfie (or a few photos of the same "
            "person) with an InsightFace model, store it as models/identities/<name>.safetensors, and load it by "
            "name later for portraits of the same person. Shows the face found and its alignment.",
            inputs=[
                io.Combo.Input(
                    "mode",
                    options=list(MODES),
                    default="create",
                    tooltip="create: store a new identity from the photos under name; update: add photos to a "
                    "stored identity (the version before is kept); load: use a stored identity (no photo needed); "
                    "restore previous: put back the version of stored_identity from before its last update "
                    "(run again to undo).",
                ),
                io.String.Input(
                    "name",
                    default="me",
                    tooltip="Name to store the identity under (create/update): letters, digits, _ . -",
                ),
                io.Combo.Input(
                    "stored_identity",
                    options=stored,
                    tooltip="The stored identity to load (mode load); lists models/identities/.",
                ),
                io.Combo.Input(
                    "face_model",
                    options=packs,
                    tooltip="The InsightFace model that finds and recognises the face; only installed ones are "
                    "listed. Where to get them:\n" + where_to_get(FACE_SOURCES),
                ),
                io.Combo.Input(
                    "provider",
                    options=list(PROVIDERS),
                    default="CPU",
                    tooltip="Where the face model runs: CPU works everywhere; CUDA / DirectML / CoreML when your "
                    "onnxruntime has them (faster).",
                ),
                io.Int.Input(
                    "face_index",
                    default=-1,
                    min=-1,
                    max=32,
                    tooltip="Which face to use when a photo shows several, counted from the largest (0); -1 = auto: "
                    "the largest face.",
                ),
                io.Image.Input(
                    "image",
                    optional=True,
                    tooltip="The selfie (or a batch of photos of the same person) for create/update.",
                ),
            ],
            outputs=[
                IdentityType.Output(
                    display_name="identity", tooltip="The person's stored face identity, for portrait generation."
                ),
                io.Image.Output(
                    display_name="aligned_face", tooltip="The face cut out and straightened, 224×224 pixels."
                ),
                io.Image.Output(display_name="preview", tooltip="The photo with the face found boxed and marked."),
            ],
        )

    OWN_CHECKS = ("face_model", "stored_identity")  # installed packs and stored files, with where to put them

    @classmethod
    def missing_models(cls, mode=None, stored_identity=None, face_model=None, **_) -> str | None:
        if mode in ("load", RESTORE):  # a stored identity needs no face model, only its own file
            try:
                found = stored_identity not in (None, NONE) and find_by_name(identities_dir(), stored_identity)
            except IdentityError as e:
                return str(e)
            if not found:
                return (
                    f"stored_identity {stored_identity!r}: no such stored identity in models/identities; "
                    "create one first (mode create)"
                )
        elif face_model == NO_FACE_MODEL or (face_model is not None and face_model not in face_packs()):
            return face_model_message(face_model)
        return None

    @classmethod
    def check_inputs(cls, mode=None, name=None, stored_identity=None, face_model=None, **_) -> str | None:
        if face_model not in (None, NO_FACE_MODEL) and face_model in face_packs():  # else: missing_models
            try:
                pack_root(face_model)
            except FaceError as e:
                return str(e)
        try:
            if mode not in ("load", RESTORE) and name is not None:
                sanitize_name(name)
        except IdentityError as e:
            return str(e)
        return None

    @classmethod
    def fingerprint_inputs(cls, mode="create", stored_identity=NONE, **_):
        if mode == "load":
            p = find_by_name(identities_dir(), stored_identity) if stored_identity != NONE else None
            return f"{p}:{p.stat().st_mtime_ns}" if p else ""
        return float("nan")  # create/update/restore always run (they write files)

    @classmethod
    def execute(cls, mode, name, stored_identity, face_model, provider, face_index, image=None) -> io.NodeOutput:
        if mode == "load":
            result = load_stored(identities_dir(), stored_identity)
        elif mode == RESTORE:
            result = restore_stored(identities_dir(), stored_identity)
        else:
            photos = [] if image is None else [_rgb_uint8(image[i]) for i in range(image.shape[0])]

            def analyse_photo(rgb: np.ndarray):
                record, warnings, faces = analyse(face_pack(face_model, provider), rgb, face_index)
                return record, warnings, faces, draw_preview(rgb, faces, max(face_index, 0))

            result = enrol(
                mode,
                name,
                identities_dir(),
                photos,
                face_model,
                analyse_photo,
                progress=runtime.progress(max(1, len(photos))),
            )
        for w in result.warnings:
            log.warning("IdentityLoader: %s", w)
        return _outputs(result)


def _outputs(result: Enrolment) -> io.NodeOutput:
    identity = result.identity
    preview = _image(result.previews) if result.previews else _crop(identity)
    ui = node_ui(
        images=(preview,),
        lines=[result.message],
        labels={"identity": f"identity {identity.name} ({identity.count} photos)"},
        warnings=list(result.warnings),
    )
    return io.NodeOutput(identity, _crop(identity), preview, ui=ui)
