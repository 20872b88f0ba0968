"""Generate every shipped workflow from the product presets in ``engine/presets/``.

    .venv/bin/python tools/build_workflows.py               # write workflows/*.json and api/*.json
    .venv/bin/python tools/build_workflows.py --check       # exit 1 if a file on disk is stale
    .venv/bin/python tools/build_workflows.py --thumbnails  # also render each template's .jpg (live server)
    .venv/bin/python tools/build_workflows.py --thumbnails NAME ...  # only these templates' .jpg

``workflows/<name>.json`` is the editor (UI) format that ComfyUI's template browser lists;
``workflows/api/<name>.json`` is the same graph in API format (``/prompt``, run_workflow.py);
``js/template_order.js`` the order the editor's template browser lists them in (the default look first).
Both are written from one description per workflow below; every widget the description leaves out
takes the default the node declares, read from the loaded nodes, so a new node input shows up here
after a rebuild (and tests/comfy/test_workflows_inprocess.py fails until the files are rebuilt).

Thumbnails are real outputs: each portrait template runs on a live ComfyUI server with this pack and
its sample photo; the identity templates run on a small face-model pack built by the tests
(testing/tiny_face_models.py, its detector fixed to the sample's face), and their pictures carry
a caption saying what the template does and that they are illustrations (the real output needs
InsightFace's pack). The selfie templates' output needs SDXL weights: theirs are drawn without a server
(every build) on the picture of the portrait template with the same lens and light, with the sample
selfie small in a corner and a caption naming what differs and that it is an illustration.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import io
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from portraitos.engine import presets
from portraitos.engine.generation.defaults import FAST
from portraitos.headless.workflow_format import (
    api_to_ui,
    apply_text_replacements,
    default_value,
    estimated_size,
    extra_widget_values,
    inputs_in_order,
    is_widget,
    node_info_from_class,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

TEMPLATES = REPO / "workflows"
API = TEMPLATES / "api"
SAMPLE = "portraitos_astronaut.jpg"  # example_inputs/astronaut.jpg, copied into ComfyUI's input folder on load
FACE_PACK = "antelopev2"  # InstantID's recognition pack; buffalo_l works for IP-Adapter FaceID
IDENTITY = "me"
METHOD = "InstantID"  # PortraitGenerate's method in the selfie workflows: SDXL, antelopev2 identities
# the fast variant: PortraitGenerate's fast speed on an SDXL Lightning LoRA (the published 4-step file)
FAST_SPEED = FAST  # "fast (Lightning / Hyper / Turbo)"
FAST_LORA = "sdxl_lightning_4step_lora.safetensors"
CHECKPOINT = "sd_xl_base_1.0.safetensors"
INSTANTID_ADAPTER = "ip-adapter.bin"  # InstantID's published file names: the template names them, so that
IDENTITYNET = "diffusion_pytorch_model.safetensors"  # the frontend's missing-models dialog can offer them
# The model files the templates name, in the frontend's convention (a loader node's ``properties.models``:
# name, official url, the ComfyUI model folder it goes into). The frontend lists the ones not installed
# and offers to download them. InsightFace's packs (antelopev2, buffalo_l) have no official single-file
# URL (the release publishes zip archives): the Notes say where they come from instead.
MODELS = {
    CHECKPOINT: (
        "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors",
        "checkpoints",
    ),
    FAST_LORA: (
        "https://huggingface.co/ByteDance/SDXL-Lightning/resolve/main/sdxl_lightning_4step_lora.safetensors",
        "loras",
    ),
    INSTANTID_ADAPTER: ("https://huggingface.co/InstantX/InstantID/resolve/main/ip-adapter.bin", "instantid"),
    IDENTITYNET: (
        "https://huggingface.co/InstantX/InstantID/resolve/main/ControlNetModel/diffusion_pytorch_model.safetensors",
        "controlnet",
    ),
}

FAST_LORA_STEPS = 4
NO_IDENTITY = "(none stored yet)"  # IdentityLoader's stored_identity before any exists (unused by create/update)
THUMB_SIDE = 256

COLUMN = 460  # x distance of the layout columns
TOP = 100
# The smallest size (width, height below the title, graph units) a node is saved with: what it reaches
# after a run, when its previews and read-outs are filled in, in both renderers of the pinned and the
# newest frontend (tests/live/test_templates_browser.py measures it). A node saved at least this large does
# not grow over its neighbours when it runs; nodes whose size follows their previews stand alone in
# their column or above the ones below them by this much.
RUN_SIZES = {
    "LensBokeh": (400, 1080),
    "DepthEstimate": (400, 820),
    "LightingTint": (400, 700),
    "IdentityLoader": (400, 700),
    "IdentityScore": (400, 420),
    "PortraitGenerate": (400, 420),
    "PreviewImage": (340, 420),
    "SaveImage": (340, 440),
    "LoadImage": (340, 470),
}
# where the editor opens: the graph's top-left corner right of the side bar and below the menu bar and
# the toast a finished run shows at the top right (1.32.9's "1 job completed" reaches 170 px down the
# screen over the lens column): every title stays readable after a run. The offset is in graph units
# (screen = (graph + offset) × scale): the groups' title bars begin 190 px down, LensBokeh at its run
# size ends above 890 px (the tests' 1400×900 window)
VIEW = {"scale": 0.6, "offset": [110, 300]}


@dataclass(frozen=True)
class Link:
    """Output ``output`` (index or output name) of node ``node``."""

    node: int
    output: int | str = 0


@dataclass
class Node:
    id: int
    type: str
    inputs: dict = field(default_factory=dict)  # widget values that differ from the defaults, and Links
    pos: tuple[int, int] = (0, 0)
    title: str | None = None
    size: tuple[int, int] | None = None
    below: int | None = None  # placed under this node (x from pos, y from that node's bottom)


@dataclass
class Workflow:
    name: str  # the file name, saying what the workflow does
    title: str  # human title (the Note's first line, the README)
    note: str
    nodes: list[Node]
    groups: list[tuple[str, list[int]]]
    thumbnail_node: int  # whose images become the template's thumbnail
    note_pos: tuple[int, int] = (40, TOP)
    note_size: tuple[int, int] = (340, 330)
    before: tuple[str, ...] = ()  # workflows that must run first (a stored identity)
    thumbnail_like: str | None = None  # its thumbnail is drawn on this workflow's (needs weights the build lacks)
    # the thumbnail's caption: what tells the template apart (lines on top), and what the picture is
    # (bottom line: an illustration, where the template's own output needs files the build lacks)
    caption: tuple[str, ...] = ()
    caption_note: str | None = None


# --- the workflows --------------------------------------------------------------------------------


def models_of(values: dict) -> list[dict]:
    """The ``properties.models`` of a node whose widget ``values`` name model files (MODELS)."""
    out = []
    for v in values.values():
        if isinstance(v, str) and v in MODELS:
            url, directory = MODELS[v]
            out.append({"name": v, "url": url, "directory": directory})
    return out


def x(col: int) -> int:
    return 40 + COLUMN * col


def light_tag(lighting: str) -> str:
    """The light's first word in template names (``warm cinematic`` -> ``warm``): the names stay short
    enough for the template browser's cards, which cut a name at the width of one line."""
    return presets.slug(lighting).split("-")[0]


# Lens profiles (LensBokeh's ``lens_profile``) shipped as portrait templates: profile -> name tag. Each
# renders with the profile's own focal length and widest aperture (its cat's eye is stated there).
PROFILE_TEMPLATES = {
    "classic 85 f/1.2": "classic-85_f1.2",
    "modern 85 f/1.4 · 11 blades": "modern-85_f1.4",
    "vintage 58 f/2 · swirl": "vintage-58_swirl",
    "anamorphic 50 T2 · 2×": "anamorphic-50_2x",
}

# The template browser lists a pack's workflows in the order the server finds the files (no sort of
# its own by default): js/template_order.js, written here, puts them in the order of all_workflows().
ORDER_JS = REPO / "js" / "template_order.js"


def save_prefix(kind: str, lighting: str) -> str:
    """SaveImage's file name prefix: what the workflow makes, then the lens as LensBokeh's widgets have
    it when the editor queues the graph (the editor fills in ``%LensBokeh.<widget>%``, so the file names
    follow a changed lens), then the light. The API graphs get the preset's own values written in."""
    return f"PortraitOS/{kind}_%LensBokeh.focal_length_mm%mm_f%LensBokeh.f_number%_{presets.slug(lighting)}"


def portrait_workflow(lens: presets.LensPreset, lighting: str, profile: str | None = None) -> Workflow:
    """2. Bring your own photo: LoadImage → DepthEstimate → LightingTint → LensBokeh → SaveImage;
    with ``profile``, LensBokeh renders that lens profile (its focal length and widest aperture)."""
    if profile is None:
        name = f"portrait_{lens.slug}_{light_tag(lighting)}"
        title = f"Portrait from your photo · {lens.label} · {lighting}"
    else:
        name = f"portrait_{PROFILE_TEMPLATES[profile]}"
        title = f"Portrait from your photo · lens profile {profile} · {lighting}"
    note = (
        f"{title}\n\n"
        "LOAD: on 'Load Image' click 'choose file to upload' and pick a head-and-shoulders photo "
        "(the astronaut is a public-domain sample). No model files are needed: depth comes from the "
        "weight-free portrait prior. With Depth Anything V2 or Depth Pro in models/depth/, pick it as "
        "'model' on 'Depth Estimate' for finer depth.\n\n"
        f"CHANGE: 'Lens Bokeh' f_number ({lens.f_number:g} now; 1.2 = most blur, 2.8 = more in focus), "
        f"focal_length_mm (any of 50-135; set the same on 'Depth Estimate'), focus_distance_m "
        f"(0 = auto, on the eyes), lens_profile ({profile or 'ideal'} now: the lens's character, its "
        "disc drawn at the centre and a corner on the node). "
        f"'Lighting Tint' preset: {', '.join(presets.LIGHTING)}.\n\n"
        "CHECK: the depth preview (near = white), the subject matte and the in-focus mask "
        "(white = sharp) show what the lens did."
    )
    f = float(lens.focal_length_mm)
    nodes = [
        Node(1, "LoadImage", {"image": SAMPLE}, (x(0), TOP + 440), "Your photo"),
        Node(2, "DepthEstimate", {"image": Link(1), "focal_length_mm": f}, (x(1), TOP)),
        Node(6, "PreviewImage", {"images": Link(2, "preview")}, (x(1), 0), "Depth (near = white)", below=2),
        Node(7, "MaskToImage", {"mask": Link(2, "subject_mask")}, (x(2), TOP), "Subject matte to image"),
        Node(8, "PreviewImage", {"images": Link(7)}, (x(2), TOP + 110), "Subject matte"),
        Node(
            3,
            "LightingTint",
            {"image": Link(1), "depth": Link(2, "depth"), "preset": lighting},
            (x(3), TOP),
            f"Lighting Tint · {lighting}",
        ),
        Node(
            4,
            "LensBokeh",
            {
                "image": Link(3, "image"),
                "depth": Link(2, "depth"),
                "lighting": Link(3, "lighting"),
                "focal_length_mm": f,
                "f_number": float(lens.f_number),
                "aperture_blades": lens.aperture_blades,
                **({"lens_profile": profile} if profile else {}),
            },
            (x(4), TOP),
            f"Lens Bokeh · {lens.label}",
        ),
        Node(
            5,
            "SaveImage",
            {
                "images": Link(4, "image"),
                "filename_prefix": save_prefix(
                    f"portrait-{PROFILE_TEMPLATES[profile]}" if profile else "portrait", lighting
                ),
            },
            (x(5), TOP),
        ),
        Node(9, "MaskToImage", {"mask": Link(4, "in_focus")}, (x(5), 0), "In-focus mask to image", below=5),
        Node(10, "PreviewImage", {"images": Link(9)}, (x(5), 0), "In focus (white = sharp)", below=9),
    ]
    groups = [
        ("1 · Your photo", [11, 1]),
        ("2 · Depth in metres", [2, 6, 7, 8]),
        ("3 · Lighting", [3]),
        ("4 · Lens", [4]),
        ("5 · Portrait and what is in focus", [5, 9, 10]),
    ]
    return Workflow(name, title, note, nodes, groups, thumbnail_node=5)


IDENTITY_CAPTIONS = {
    "create": (f"create identity '{IDENTITY}'", "from a selfie"),
    "update": (f"update identity '{IDENTITY}'", "add a photo of the same face"),
    "load": (f"load stored identity '{IDENTITY}'", "for PortraitGenerate, IdentityScore"),
}


def identity_workflows() -> list[Workflow]:
    """3. Identity only: create, update, load."""
    where = (
        f"NEEDS: InsightFace's '{FACE_PACK}' pack (its .onnx files) in "
        f"ComfyUI/models/insightface/models/{FACE_PACK}/ (buffalo_l works too: pick it as 'face_model'). "
        f"Identities are stored as models/identities/<name>.safetensors."
    )
    common = {"face_model": FACE_PACK, "provider": "CPU", "face_index": -1}
    out = []
    for mode, title, what in (
        (
            "create",
            "Identity · create from a selfie",
            "LOAD: your selfie on 'Load Image' (several photos of the same person: a batch works too). "
            f"CHANGE: 'name' on 'Identity Loader' (now '{IDENTITY}'). Run once; the identity is then "
            "listed under 'stored_identity' everywhere.",
        ),
        (
            "update",
            "Identity · add photos to a stored identity",
            f"LOAD: another photo of the same person. CHANGE: 'name' to the stored identity (now "
            f"'{IDENTITY}'). The new face is averaged into the stored embedding.",
        ),
        (
            "load",
            "Identity · load a stored identity",
            f"CHANGE: 'stored_identity' to the name you created (now '{IDENTITY}'). Connect 'identity' "
            "to PortraitGenerate or IdentityScore.",
        ),
    ):
        inputs = dict(common, mode=mode, name=IDENTITY, stored_identity=IDENTITY if mode == "load" else NO_IDENTITY)
        nodes = []
        if mode != "load":
            nodes.append(Node(1, "LoadImage", {"image": SAMPLE}, (x(0), TOP + 370), "Selfie"))
            inputs["image"] = Link(1)
        nodes += [
            Node(2, "IdentityLoader", inputs, (x(1), TOP), f"Identity Loader · {mode}"),
            Node(3, "PreviewImage", {"images": Link(2, "preview")}, (x(2), TOP), "Detected face"),
            Node(4, "PreviewImage", {"images": Link(2, "aligned_face")}, (x(3), TOP), "Aligned face (stored)"),
        ]
        groups = [("1 · Selfie", [11, 1])] if mode != "load" else [("Start here", [11])]
        groups += [("2 · Identity", [2]), ("3 · What was stored", [3, 4])]
        note = f"{title}\n\n{what}\n\n{where}"
        out.append(
            Workflow(
                f"identity_{mode}",
                title,
                note,
                nodes,
                groups,
                thumbnail_node=3,
                note_size=(340, 300),
                before=() if mode == "create" else ("identity_create",),
                caption=IDENTITY_CAPTIONS[mode],
                caption_note=f"illustration · needs InsightFace {FACE_PACK}",
            )
        )
    return out


def selfie_workflow(lens: presets.LensPreset, lighting: str, stored: bool = False, fast: bool = False) -> Workflow:
    """1. Selfie to twenty portraits: LoadImage → IdentityLoader → PortraitGenerate (batch 20) →
    IdentityScore (best first) → upscale (Lanczos) → DepthEstimate → LightingTint → LensBokeh → SaveImage.
    ``fast``: ComfyUI's LoraLoader with an SDXL Lightning LoRA between the checkpoint and PortraitGenerate,
    whose speed is then the fast setting (cfg 1, euler, sgm_uniform) at the LoRA's step count.

    Input and output names follow the PortraitGenerate design: ``model``/``clip``/``vae``,
    ``identity``, ``style``, ``batch_size``, ``photo``; IdentityScore takes ``images`` and ``identity``
    and gives the sorted batch first. A name that differs in the node is reported by
    :func:`complete_inputs`, a type that differs by the tests' validation (change it here).
    """
    if stored:
        name = "selfie_stored-identity"
    elif fast:
        name = f"selfie_fast_{lens.slug}_{light_tag(lighting)}"
    else:
        name = f"selfie_{lens.slug}_{light_tag(lighting)}"
    title = f"Selfie to twenty portraits · {lens.label} · {lighting}" + (" · stored identity" if stored else "")
    title += " · fast (SDXL Lightning)" if fast else ""
    stored_part = ("_stored-identity" if stored else "") + ("_fast" if fast else "")  # in saved file names
    ident = {
        "mode": "load" if stored else "create",
        "name": IDENTITY,
        "stored_identity": IDENTITY if stored else NO_IDENTITY,
    }
    ident.update(face_model=FACE_PACK, provider="CPU", face_index=-1)
    if not stored:
        ident["image"] = Link(1)
    gen = {"model": Link(3, 0), "clip": Link(3, 1), "vae": Link(3, 2), "identity": Link(2, 0), "batch_size": 20}
    gen.update(photo=Link(1), method=METHOD)
    if METHOD == "InstantID":  # named, so that the frontend's missing-models dialog offers them
        gen.update(adapter_file=INSTANTID_ADAPTER, controlnet_file=IDENTITYNET)
    if fast:  # the LoRA patches the checkpoint's UNet (and text encoder, when it has one): both go through it
        gen.update(model=Link(17, 0), clip=Link(17, 1), speed=FAST_SPEED, steps=FAST_LORA_STEPS)
    styles = presets.portrait_styles()
    if styles:
        gen["style"] = styles[0]
    f = float(lens.focal_length_mm)
    nodes = [
        Node(1, "LoadImage", {"image": SAMPLE}, (x(0), TOP + 480), "Your selfie"),
        Node(2, "IdentityLoader", ident, (x(1), TOP), f"Identity · {'load ' + IDENTITY if stored else 'create'}"),
        Node(3, "CheckpointLoaderSimple", {"ckpt_name": CHECKPOINT}, (x(1), 0), below=2),
        Node(4, "PortraitGenerate", gen, (x(2), TOP), "Twenty portraits"),
        Node(5, "IdentityScore", {"images": Link(4, 0), "identity": Link(2, 0)}, (x(3), TOP), "Best likeness first"),
        Node(
            6, "ImageScaleBy", {"image": Link(5, 0), "upscale_method": "lanczos", "scale_by": 2.0}, (x(3), 0), below=5
        ),
        Node(7, "DepthEstimate", {"image": Link(6), "focal_length_mm": f}, (x(4), TOP)),
        Node(12, "PreviewImage", {"images": Link(7, "preview")}, (x(4), 0), "Depth (near = white)", below=7),
        Node(13, "MaskToImage", {"mask": Link(7, "subject_mask")}, (x(5), TOP), "Subject matte to image"),
        Node(14, "PreviewImage", {"images": Link(13)}, (x(5), TOP + 110), "Subject matte"),
        Node(
            8,
            "LightingTint",
            {"image": Link(6), "depth": Link(7, "depth"), "preset": lighting},
            (x(6), TOP),
            f"Lighting Tint · {lighting}",
        ),
        Node(
            9,
            "LensBokeh",
            {
                "image": Link(8, "image"),
                "depth": Link(7, "depth"),
                "lighting": Link(8, "lighting"),
                "focal_length_mm": f,
                "f_number": float(lens.f_number),
                "aperture_blades": lens.aperture_blades,
            },
            (x(7), TOP),
            f"Lens Bokeh · {lens.label}",
        ),
        Node(
            10,
            "SaveImage",
            {
                "images": Link(9, "image"),
                "filename_prefix": save_prefix("selfie-to-20-portraits" + stored_part, lighting),
            },
            (x(8), TOP),
        ),
        Node(15, "MaskToImage", {"mask": Link(9, "in_focus")}, (x(8), 0), "In-focus mask to image", below=10),
        Node(16, "PreviewImage", {"images": Link(15)}, (x(8), 0), "In focus (white = sharp)", below=15),
    ]
    if fast:
        lora = {"model": Link(3, 0), "clip": Link(3, 1), "lora_name": FAST_LORA}
        nodes.append(Node(17, "LoraLoader", lora, (x(1), 0), "Lightning LoRA (4 steps)", below=3))
    load = (
        f"LOAD: your selfie on 'Load Image' ('{IDENTITY}' is then loaded by name: create it once with identity_create)"
        if stored
        else "LOAD: your selfie on 'Load Image' (it becomes the identity 'me' and the face reference)"
    )
    note = (
        f"{title}\n\n{load}; an SDXL checkpoint on 'Load Checkpoint'; InstantID's files ({INSTANTID_ADAPTER} in "
        f"models/instantid/, its IdentityNet as {IDENTITYNET} in models/controlnet/; other names: pick them on "
        "PortraitGenerate, or 'auto'). A newer frontend offers to download these from their official pages "
        "(Missing Models). "
        "No adapter files? Set 'method' to 'keep face' (keeps the selfie's face, any checkpoint). "
        "'IP-Adapter FaceID' needs an identity made with face_model buffalo_l. Upscaling is Lanczos; with an "
        "upscale model, replace 'Upscale Image By' with 'Load Upscale Model' + 'Upscale Image (using Model)'.\n\n"
        f"CHANGE: 'style' and 'seed' on PortraitGenerate; the lens ({lens.label}) and light ({lighting}) as in "
        "the portrait templates. The batch is sorted best likeness first.\n\n"
        f"NEEDS: InsightFace '{FACE_PACK}' in models/insightface/models/{FACE_PACK}/ (its .onnx files, no "
        "nested folder). InsightFace publishes its packs only as zip archives, with no official single-file "
        "URL, so no dialog can download them: the README's Model files table links the release."
    )
    if fast:
        note += (
            f"\n\nFAST: '{FAST_LORA}' (ByteDance/SDXL-Lightning) in models/loras/; PortraitGenerate's speed "
            f"'{FAST_SPEED}' samples {FAST_LORA_STEPS} steps at cfg 1 with euler and sgm_uniform. Another "
            "Lightning / Hyper / Turbo LoRA: pick it on the LoRA loader and set 'steps' to its step count; a "
            "distilled checkpoint: load it and bypass the LoRA loader."
        )
    groups = [
        ("1 · Selfie and identity", [11, 1, 2, 3] + ([17] if fast else [])),
        ("2 · Twenty portraits, best first", [4, 5, 6]),
        ("3 · Depth in metres", [7, 12, 13, 14]),
        ("4 · Lighting", [8]),
        ("5 · Lens", [9]),
        ("6 · Portraits and what is in focus", [10, 15, 16]),
    ]
    like = f"portrait_{lens.slug}_{light_tag(lighting)}"
    what = "stored identity to 20 portraits" if stored else "selfie to 20 portraits"
    look = f"{lens.label} · {light_tag(lighting)}" + (f" · identity '{IDENTITY}'" if stored else "")
    caption = (what + (" · fast" if fast else ""), look)
    needs = "illustration · needs SDXL" + (" + Lightning LoRA" if fast else " weights")
    return Workflow(name, title, note, nodes, groups, 10, thumbnail_like=like, caption=caption, caption_note=needs)


def selfie_workflows(available: set[str]) -> list[Workflow]:
    """Workflow 1 in the lens and lighting variants, its fast variant (default lens and light) and with a
    stored identity (last), when the pack has PortraitGenerate and IdentityScore."""
    if not {"PortraitGenerate", "IdentityScore"} <= available:
        return []
    out = [selfie_workflow(lens, light) for lens, light in preset_combos()]
    out.append(selfie_workflow(presets.DEFAULT_LENS, presets.DEFAULT_LIGHTING, fast=True))
    return out + [selfie_workflow(presets.DEFAULT_LENS, presets.DEFAULT_LIGHTING, stored=True)]


def preset_combos() -> list[tuple[presets.LensPreset, str]]:
    """Each lens with the default light, and each light with the default lens."""
    combos = [(lens, presets.DEFAULT_LIGHTING) for lens in presets.LENSES]
    return combos + [(presets.DEFAULT_LENS, light) for light in presets.LIGHTING if light != presets.DEFAULT_LIGHTING]


def profile_workflows() -> list[Workflow]:
    """The portrait workflow with each profile of :data:`PROFILE_TEMPLATES` (default light)."""
    from portraitos.engine.lens.profiles import find_profile

    out = []
    for name in PROFILE_TEMPLATES:
        p = find_profile(name)
        lens = presets.LensPreset(p.focal_length_mm, p.max_aperture)
        out.append(portrait_workflow(lens, presets.DEFAULT_LIGHTING, profile=name))
    return out


def identity_chain_workflows(available: set[str]) -> list[Workflow]:
    """4. The identity beside another pack's adapter: PortraitIdentityApply on your MODEL and CONDITIONING,
    then a core cross-attention patch (UNetCrossAttentionMultiply, where cubiq's IPAdapter Advanced or Apply
    InstantID goes), then ComfyUI's own KSampler. Either order composes (docs/generation.md: Using PortraitOS with
    IPAdapter / InstantID packs)."""
    if "PortraitIdentityApply" not in available:
        return []
    ident = {"mode": "create", "name": IDENTITY, "stored_identity": NO_IDENTITY, "image": Link(1)}
    ident.update(face_model=FACE_PACK, provider="CPU", face_index=-1)
    apply = {"model": Link(3, 0), "positive": Link(4), "negative": Link(5), "identity": Link(2, 0), "vae": Link(3, 2)}
    apply.update(method=METHOD, adapter_file=INSTANTID_ADAPTER, controlnet_file=IDENTITYNET, latent=Link(8))
    sampler = {"model": Link(7), "positive": Link(6, 1), "negative": Link(6, 2), "latent_image": Link(8)}
    sampler.update(steps=30, cfg=4.5, sampler_name="dpmpp_2m", scheduler="karras")
    prompt = "studio portrait photo of a person, head and shoulders, soft window light, 85mm"
    nodes = [
        Node(1, "LoadImage", {"image": SAMPLE}, (x(0), TOP + 480), "Your selfie"),
        Node(2, "IdentityLoader", ident, (x(1), TOP), "Identity · create"),
        Node(3, "CheckpointLoaderSimple", {"ckpt_name": CHECKPOINT}, (x(1), 0), below=2),
        # the prompts' text boxes are taller in Nodes 2.0 than the estimate: a size of their own
        Node(4, "CLIPTextEncode", {"clip": Link(3, 1), "text": prompt}, (x(2), TOP), "Positive", size=(400, 200)),
        Node(
            5,
            "CLIPTextEncode",
            {"clip": Link(3, 1), "text": "blurry, lowres"},
            (x(2), 0),
            "Negative",
            below=4,
            size=(400, 200),
        ),
        Node(8, "EmptyLatentImage", {"width": 832, "height": 1216}, (x(2), 0), below=5),
        Node(6, "PortraitIdentityApply", apply, (x(3), TOP), "Portrait Identity Apply (InstantID)"),
        Node(7, "UNetCrossAttentionMultiply", {"model": Link(6, 0)}, (x(4), TOP), "Another pack's patch goes here"),
        Node(9, "KSampler", sampler, (x(5), TOP)),
        Node(10, "VAEDecode", {"samples": Link(9), "vae": Link(3, 2)}, (x(6), TOP)),
        Node(
            12, "SaveImage", {"images": Link(10), "filename_prefix": "PortraitOS/identity-with-ipadapter"}, (x(7), TOP)
        ),
    ]
    title = "Identity beside IPAdapter / InstantID packs"
    note = (
        f"{title}\n\nLOAD: your selfie on 'Load Image'; an SDXL checkpoint; InstantID's files ({INSTANTID_ADAPTER} in "
        f"models/instantid/, IdentityNet as {IDENTITYNET} in models/controlnet/).\n\n"
        "CHANGE: the prompts and the seed; put another pack's node (IPAdapter Advanced, Apply InstantID) where "
        "the core 'UNetCrossAttentionMultiply' stands, before or after ours: both patches run ('Portrait "
        "Identity Apply' returns the patched MODEL and CONDITIONING like cubiq's apply nodes). "
        "Migrating a FaceID graph? Its LoraLoader "
        "for ip-adapter-faceid_*_lora can stay: our node sees that LoRA and does not apply its own.\n\n"
        f"NEEDS: InsightFace '{FACE_PACK}' in models/insightface/models/{FACE_PACK}/."
    )
    groups = [
        ("1 · Selfie, identity, checkpoint", [11, 1, 2, 3]),
        ("2 · Prompts and latent", [4, 5, 8]),
        ("3 · Identity, then another pack's patch", [6, 7]),
        ("4 · Sample and save", [9, 10, 12]),
    ]
    caption = ("identity + another pack's patch", "PortraitIdentityApply → IPAdapter-style chain")
    like = f"portrait_{presets.DEFAULT_LENS.slug}_{light_tag(presets.DEFAULT_LIGHTING)}"
    needs = "illustration · needs SDXL + InstantID weights"
    wf = Workflow("identity_with_ipadapter", title, note, nodes, groups, 12, thumbnail_like=like)
    wf.caption, wf.caption_note = caption, needs
    return [wf]


def all_workflows(available: set[str]) -> list[Workflow]:
    """Every shipped workflow, in the order the template browser lists them: the default look first,
    the lens variants (default lighting), the lighting variants (default lens), the lens profiles,
    then, when present, the selfie workflows, and the identity workflows."""
    portraits = [portrait_workflow(*c) for c in preset_combos()] + profile_workflows()
    return portraits + selfie_workflows(available) + identity_workflows() + identity_chain_workflows(available)


def order_js(workflows: list[Workflow]) -> str:
    """js/template_order.js: the template browser's order of this pack's workflows."""
    names = ",\n".join(f"  {json.dumps(w.name)}" for w in workflows)
    return (
        "// Generated by tools/build_workflows.py (do not edit): the order the template browser lists this\n"
        "// pack's workflows in, the default look first. ComfyUI lists a pack's workflows/*.json in the order\n"
        "// its server finds the files; portraitos.js sorts them by this list.\n"
        f"export const TEMPLATE_ORDER = [\n{names},\n];\n"
    )


# --- rendering to files ---------------------------------------------------------------------------


class SpecError(ValueError):
    pass


def complete_inputs(node: Node, info: dict, wf: str) -> dict:
    """The node's full API inputs: given values and links, every other widget at its default."""
    spec = {name: (typ, opts) for name, typ, opts, _req in inputs_in_order(info)}
    unknown = set(node.inputs) - set(spec)
    if unknown:
        raise SpecError(f"{wf}: node {node.id} ({node.type}) has no input(s) {sorted(unknown)}; it has {list(spec)}")
    out = {}
    for name, (typ, opts) in spec.items():
        if name in node.inputs:
            out[name] = node.inputs[name]
        elif is_widget(typ, opts):
            try:
                out[name] = default_value(typ, opts)
            except KeyError:
                raise SpecError(f"{wf}: node {node.id} ({node.type}) needs a value for {name!r}") from None
    return out


def render(wf: Workflow, node_info) -> tuple[dict, dict]:
    """(API graph, UI workflow) of one workflow."""
    graph = {}
    for n in sorted(wf.nodes, key=lambda n: n.id):
        info = node_info(n.type)
        graph[str(n.id)] = {
            "inputs": complete_inputs(n, info, wf.name),
            "class_type": n.type,
            "_meta": {"title": n.title or info.get("display_name") or n.type},
        }
    by_id = {n.id: n for n in wf.nodes}
    for nid, node in graph.items():
        for name, v in node["inputs"].items():
            if isinstance(v, Link):
                if v.node not in by_id:
                    raise SpecError(f"{wf.name}: node {nid}.{name} links to missing node {v.node}")
                slot = v.output
                if isinstance(slot, str):
                    names = node_info(by_id[v.node].type).get("output_name", [])
                    if slot not in names:
                        raise SpecError(f"{wf.name}: node {v.node} has no output {slot!r} (outputs {names})")
                    slot = names.index(slot)
                node["inputs"][name] = [str(v.node), slot]
    sizes, pos = {}, {}
    for n in wf.nodes:
        info = node_info(n.type)
        n_widgets = sum(1 + extra_widget_values(o) for name, t, o, _r in inputs_in_order(info) if is_widget(t, o))
        size = n.size or estimated_size(info, n_widgets, n.type in ("LoadImage", "PreviewImage", "SaveImage"))
        run = RUN_SIZES.get(n.type, (0, 0))
        sizes[n.id] = [max(size[0], run[0]), max(size[1], run[1])]
    for n in wf.nodes:  # in order: a node placed below another comes after it
        pos[n.id] = [n.pos[0], pos[n.below][1] + sizes[n.below][1] + 60] if n.below else list(n.pos)
    layout = {
        "nodes": {
            n.id: {k: v for k, v in (("pos", pos[n.id]), ("title", n.title), ("size", sizes[n.id])) if v is not None}
            for n in wf.nodes
        },
        "notes": [
            {"id": 11, "text": wf.note, "pos": list(wf.note_pos), "size": list(wf.note_size), "title": "Read me"}
        ],
        "groups": [{"title": t, "nodes": ids} for t, ids in wf.groups],
        "extra": {"ds": {"scale": VIEW["scale"], "offset": list(VIEW["offset"])}, "title": wf.title},
    }
    ui = api_to_ui(graph, node_info, layout)
    declared = {n.id: models_of(n.inputs) for n in wf.nodes}
    for node in ui["nodes"]:
        if declared.get(node["id"]):
            node.setdefault("properties", {})["models"] = declared[node["id"]]
    return apply_text_replacements(copy.deepcopy(graph)), ui


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def generate(node_info, available: set[str]) -> dict[Path, str]:
    """Every generated file's path and text."""
    files = {}
    workflows = all_workflows(available)
    for wf in workflows:
        graph, ui = render(wf, node_info)
        files[API / f"{wf.name}.json"] = dumps(graph)
        files[TEMPLATES / f"{wf.name}.json"] = dumps(ui)
    files[ORDER_JS] = order_js(workflows)
    return files


def stale_files(files: dict[Path, str]) -> list[str]:
    """Generated files that differ from disk, are missing, or are on disk but no longer generated."""
    out = [str(p.relative_to(REPO)) for p, text in files.items() if not p.is_file() or p.read_text() != text]
    on_disk = set(TEMPLATES.glob("*.json")) | set(API.glob("*.json")) | ({ORDER_JS} if ORDER_JS.is_file() else set())
    out += [f"{p.relative_to(REPO)} (no longer generated)" for p in sorted(on_disk - set(files))]
    return out


def loaded_nodes():
    from portraitos.testing.comfy_host import load_in_process

    tmp = Path(tempfile.mkdtemp(prefix="portraitos_build_"))
    atexit.register(shutil.rmtree, tmp, True)
    (tmp / "in").mkdir()
    (tmp / "out").mkdir()
    return load_in_process(tmp / "in", tmp / "out")


# --- thumbnails -----------------------------------------------------------------------------------

SELFIE = REPO / "example_inputs" / "astronaut.jpg"  # the sample photo (SAMPLE in ComfyUI's input folder)
INSET_SIDE = 68  # the selfie drawn into the selfie templates' thumbnails
CAPTION_PX = 13
FONTS = Path("/usr/share/fonts/truetype/dejavu")
# the caption's recipe: a thumbnail whose JPEG comment holds the key of its sources and caption is not
# drawn again (another Pillow's JPEG bytes would differ for the same picture)
CAPTION_RECIPE = "portraitos-caption-1"


def caption_key(base: bytes, wf: Workflow, inset: bytes | None) -> str:
    import hashlib

    h = hashlib.sha256(CAPTION_RECIPE.encode())
    for part in (base, inset or b"", json.dumps([wf.caption, wf.caption_note]).encode()):
        h.update(hashlib.sha256(part).digest())
    return f"{CAPTION_RECIPE} {h.hexdigest()[:32]}"


def captioned(base, wf: Workflow, inset=None):
    """``base`` (a real picture of the pack's) with ``wf``'s caption in a dark band on top, its note
    (what the picture is) in one at the bottom, and ``inset`` (the input selfie) small at the bottom left."""
    from PIL import Image, ImageDraw, ImageFont

    img = base.convert("RGB")
    if max(img.size) < THUMB_SIDE:  # a small picture (the aligned face) at the thumbnails' size
        k = THUMB_SIDE / max(img.size)
        img = img.resize((round(img.size[0] * k), round(img.size[1] * k)), Image.LANCZOS)
    img = img.copy()

    def load(name, size):  # DejaVu (Debian's fonts-dejavu-core), else Pillow's own font
        try:
            return ImageFont.truetype(str(FONTS / name), size)
        except OSError:
            return ImageFont.load_default(size=size)

    font = load("DejaVuSans-Bold.ttf", CAPTION_PX)
    small = load("DejaVuSans.ttf", CAPTION_PX - 2)
    w, h = img.size
    line = CAPTION_PX + 4
    pad = 5

    def fit(text, f):  # cut a line that would not fit (the names keep them short)
        while text and f.getlength(text) > w - 2 * pad:
            text = text[:-2] + "…"
        return text

    shade = Image.new("L", img.size, 0)
    d = ImageDraw.Draw(shade)
    top = pad + line * len(wf.caption)
    bottom = h - (line + pad if wf.caption_note else 0)
    d.rectangle((0, 0, w, top), fill=170)
    if wf.caption_note:
        d.rectangle((0, bottom, w, h), fill=170)
    img = Image.composite(Image.new("RGB", img.size, (12, 12, 14)), img, shade)
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(wf.caption):
        f, colour = (font, (255, 255, 255)) if i == 0 else (small, (235, 225, 200))
        draw.text((pad, pad // 2 + 2 + i * line), fit(text, f), font=f, fill=colour)
    if wf.caption_note:
        draw.text((pad, bottom + 3), fit(wf.caption_note, small), font=small, fill=(255, 205, 120))
    if inset is not None:
        face = inset.convert("RGB").copy()
        face.thumbnail((INSET_SIDE, INSET_SIDE), Image.LANCZOS)
        x0, y0 = pad, bottom - pad - face.size[1]
        draw.rectangle((x0 - 2, y0 - 2, x0 + face.size[0] + 1, y0 + face.size[1] + 1), fill=(255, 255, 255))
        img.paste(face, (x0, y0))
    return img


def save_thumbnail(img, dest: Path, comment: str | None = None) -> None:
    img.save(dest, quality=85, optimize=True, **({"comment": comment} if comment else {}))


def thumbnail_comment(path: Path) -> str | None:
    from PIL import Image

    try:
        c = Image.open(path).info.get("comment")
    except OSError:
        return None
    return c.decode(errors="replace") if isinstance(c, bytes) else c


def render_thumbnails(names: list[str] | None = None) -> list[Path]:
    """Run each template on a live server with this pack and save its output as ``<name>.jpg``."""
    from PIL import Image

    from portraitos.headless.server import ComfyServer
    from portraitos.testing.tiny_face_models import build_pack

    available = set(loaded_nodes().NODE_CLASS_MAPPINGS)
    workflows = [w for w in all_workflows(available) if names is None or w.name in names]
    copies = [w for w in workflows if w.thumbnail_like]
    workflows = [w for w in workflows if not w.thumbnail_like]
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = {k: work / "models" / k for k in ("insightface", "identities")}
        for p in folders.values():
            p.mkdir(parents=True)
        build_pack(folders["insightface"], FACE_PACK)
        server = ComfyServer(work, model_folders=folders).start()
        try:
            for wf in sorted(workflows, key=lambda w: bool(w.before)):  # a stored identity first
                graph = json.loads((API / f"{wf.name}.json").read_text())
                hist, _ = server.run_prompt(graph)
                if hist["status"]["status_str"] != "success":
                    raise RuntimeError(f"{wf.name} failed: {hist['status']}")
                ref = hist["outputs"][str(wf.thumbnail_node)]["images"][0]
                q = "&".join(f"{k}={ref[k]}" for k in ("filename", "subfolder", "type"))
                img = Image.open(io.BytesIO(server.get(f"/view?{q}"))).convert("RGB")
                img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.LANCZOS)
                dest = TEMPLATES / f"{wf.name}.jpg"
                if wf.caption:  # run on stand-in models (the identity templates): said so on the picture
                    img = captioned(img, wf)
                save_thumbnail(img, dest)
                written.append(dest)
                print(f"wrote {dest.relative_to(REPO)}")
        finally:
            server.stop()
    written += copy_thumbnails(available, [w.name for w in copies], force=True)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a generated file is stale; write nothing")
    ap.add_argument(
        "--thumbnails",
        nargs="*",
        metavar="NAME",
        help="render the thumbnail (.jpg) of the templates named (every template when none is named)",
    )
    args = ap.parse_args(argv)
    nodes = loaded_nodes()
    m = nodes.NODE_CLASS_MAPPINGS
    files = generate(lambda t: node_info_from_class(m[t], nodes.NODE_DISPLAY_NAME_MAPPINGS.get(t)), set(m))
    if args.check:
        stale = stale_files(files)
        for s in stale:
            print(f"stale: {s}")
        return 1 if stale else 0
    API.mkdir(parents=True, exist_ok=True)
    for p in stale_files(files):
        if p.endswith("(no longer generated)"):
            old = REPO / p.split(" ")[0]
            old.unlink()
            old.with_suffix(".jpg").unlink(missing_ok=True)
            print(f"removed {old.relative_to(REPO)}")
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO)}")
    if args.thumbnails is not None:
        render_thumbnails(args.thumbnails or None)
    else:
        copy_thumbnails(set(m))
    return 0


def copy_thumbnails(available: set[str], names: list[str] | None = None, force: bool = False) -> list[Path]:
    """The thumbnails of workflows whose own output needs weights the build lacks (no server needed):
    the picture of the workflow with the same lens and light on the sample photo (real LensBokeh output),
    the input selfie small in a corner and a caption saying what differs and that it is an illustration.
    A thumbnail drawn from the same sources and caption is left as it is, unless ``force``."""
    from PIL import Image

    written = []
    inset = SELFIE.read_bytes()
    for wf in all_workflows(available):
        src, dest = TEMPLATES / f"{wf.thumbnail_like}.jpg", TEMPLATES / f"{wf.name}.jpg"
        if not wf.thumbnail_like or (names is not None and wf.name not in names) or not src.is_file():
            continue
        key = caption_key(src.read_bytes(), wf, inset)
        if not force and dest.is_file() and thumbnail_comment(dest) == key:
            continue
        img = captioned(Image.open(src), wf, Image.open(io.BytesIO(inset)))
        save_thumbnail(img, dest, key)
        written.append(dest)
        print(f"wrote {dest.relative_to(REPO)} (drawn on {wf.thumbnail_like})")
    return written


if __name__ == "__main__":
    raise SystemExit(main())
