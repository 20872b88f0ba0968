"""Where the optional model files come from: official pages, sizes, licences and the folder each goes
into. Tooltips, errors and the README name these; nothing is downloaded by the pack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSource:
    name: str
    page: str
    size: str
    licence: str
    folder: str


DEPTH_SOURCES = (
    ModelSource(
        "Depth Anything V2 Small (Hugging Face layout)",
        "https://huggingface.co/depth-anything/Depth-Anything-V2-Small-hf",
        "99 MB",
        "Apache-2.0",
        "models/depth/Depth-Anything-V2-Small-hf/ (config.json, model.safetensors, preprocessor_config.json)",
    ),
    ModelSource(
        "Depth Anything V2 Base / Large (Hugging Face layout)",
        "https://huggingface.co/depth-anything/Depth-Anything-V2-Large-hf",
        "390 MB / 1.3 GB",
        "CC-BY-NC-4.0 (non-commercial)",
        "models/depth/<folder name>/",
    ),
    ModelSource(
        "Depth Anything V2 single files (depth_anything_v2_vit{s,b,l}_fp16/fp32.safetensors)",
        "https://huggingface.co/Kijai/DepthAnythingV2-safetensors",
        "50 MB (vits fp16) … 1.34 GB (vitl fp32)",
        "as the original weights: vits Apache-2.0, vitb/vitl CC-BY-NC-4.0",
        "models/depthanything/",
    ),
    ModelSource(
        "Depth Pro (metric, Hugging Face layout)",
        "https://huggingface.co/apple/DepthPro-hf",
        "1.9 GB",
        "Apple ML Research licence (apple-amlr, research use)",
        "models/depth/DepthPro-hf/",
    ),
)

FACE_SOURCES = (
    ModelSource(
        "InsightFace antelopev2 (face detection + recognition, ONNX)",
        "https://github.com/deepinsight/insightface/tree/master/python-package#model-zoo",
        "407 MB unpacked",
        "non-commercial research use only",
        "models/insightface/models/antelopev2/*.onnx (no nested folder)",
    ),
    ModelSource(
        "InsightFace buffalo_l (face detection + recognition, ONNX)",
        "https://github.com/deepinsight/insightface/releases/tag/v0.7",
        "326 MB unpacked",
        "non-commercial research use only",
        "models/insightface/models/buffalo_l/*.onnx (no nested folder)",
    ),
)

GENERATION_SOURCES = {
    "InstantID": ModelSource(
        "ip-adapter.bin (InstantID image projection and attention)",
        "https://huggingface.co/InstantX/InstantID",
        "1.69 GB",
        "Apache-2.0 code; checkpoints for research use (see the model card)",
        "models/instantid/",
    ),
    "IP-Adapter FaceID": ModelSource(
        "ip-adapter-faceid_sdxl.bin (SDXL) or ip-adapter-faceid_sd15.bin (SD 1.5)",
        "https://huggingface.co/h94/IP-Adapter-FaceID",
        "1.07 GB (SDXL) / 96.7 MB (SD 1.5)",
        "non-commercial research use (InsightFace embeddings)",
        "models/ipadapter/",
    ),
    "controlnet": ModelSource(
        "ControlNetModel/diffusion_pytorch_model.safetensors (InstantID's IdentityNet)",
        "https://huggingface.co/InstantX/InstantID",
        "2.5 GB",
        "Apache-2.0 code; checkpoints for research use (see the model card)",
        "models/controlnet/ (for example as models/controlnet/instantid/diffusion_pytorch_model.safetensors)",
    ),
}

README_MODELS = "https://github.com/portraitos/ComfyUI-PortraitOS#model-files"


def where_to_get(sources: tuple[ModelSource, ...]) -> str:
    """One line per file: name, folder and official page (for tooltips and errors)."""
    return "\n".join(f"• {s.name} → ComfyUI/{s.folder}: {s.page}" for s in sources)
