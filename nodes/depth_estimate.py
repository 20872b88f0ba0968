"""DepthEstimate: metric depth from one image, edges that follow the image."""

from __future__ import annotations

from comfy_api.latest import io

from portraitos.engine.depth import PRIOR, EstimateSettings, ModelFileError, depth_preview, estimate_depth
from portraitos.engine.depth.networks import PRECISIONS
from portraitos.engine.depth.portrait_prior import PROGRESS_STEPS
from portraitos.engine.lens import DEFAULT_SENSOR, SENSORS
from portraitos.engine.people.person import people_line
from portraitos.engine.presets import DEFAULT_LENS
from portraitos.services import depth_networks, runtime
from portraitos.services.model_sources import DEPTH_SOURCES, where_to_get
from portraitos.services.readout import caught_warnings, metres, node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_DEPTH, Depth
from portraitos.services.validation import SchemaChecked


class DepthEstimate(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("depth map", "depth estimation", "background", "face distance", "subject mask")

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DepthEstimate",
            display_name="Portrait Depth (face, background)",
            category=CATEGORY_DEPTH,
            description="How far every pixel of a portrait is from the lens, in metres, for background blur "
            "(Portrait Bokeh) and lighting. Uses an installed Depth Pro / Depth Anything V2 model, or with no "
            "download a portrait prior (person matte, face mesh and iris models shipped with the pack) that separates "
            "the person from the background. The iris sets the distance (else the face's size); edges follow hair "
            "and outlines at full resolution. Shows the depth and the subject matte.",
            inputs=[
                io.Image.Input("image", tooltip="The portrait to measure (one photo or a batch)."),
                io.Combo.Input(
                    "model",
                    options=depth_networks.available_models(),
                    default=PRIOR,
                    tooltip=f"What measures the depth. '{PRIOR}' needs no download: the person at the face's "
                    "distance; the background a floor or wall receding from the texture's scale when the photo "
                    "shows one, else one plane at background_distance_m. Installed depth models are listed too; "
                    "none installed = only the prior. Where to get them:\n" + where_to_get(DEPTH_SOURCES),
                ),
                io.Float.Input(
                    "subject_distance_m",
                    default=0.0,
                    min=0.0,
                    max=100.0,
                    step=0.01,
                    tooltip="Camera-to-face distance in metres. 0 = auto: from the iris (11.7 mm across), else "
                    "the eyes' spacing or the face's size in the frame (with focal_length_mm and sensor).",
                ),
                io.Float.Input(
                    "background_distance_m",
                    default=6.0,
                    min=0.2,
                    max=1000.0,
                    step=0.1,
                    tooltip="Distance from the lens to a flat backdrop in metres: the prior's background where the "
                    "photo shows no receding floor or wall, and a relative model's far plane when fewer than two "
                    "people or a floor fix its scale. Farther = more background blur.",
                ),
                io.Float.Input(
                    "focal_length_mm",
                    default=DEFAULT_LENS.focal_length_mm,
                    min=10.0,
                    max=400.0,
                    step=1.0,
                    tooltip="Focal length the photo was taken with. With the sensor it turns the face's size "
                    "into a distance; the depth remembers it, so set the same on Portrait Bokeh.",
                ),
                io.Combo.Input(
                    "sensor",
                    options=list(SENSORS),
                    default=DEFAULT_SENSOR,
                    tooltip="Sensor size of the camera that took the photo (with the focal length it sets the "
                    "framing). Set the same on Portrait Bokeh.",
                ),
                io.Boolean.Input(
                    "refine_edges",
                    default=True,
                    tooltip="On: depth edges follow hair and outlines of the full-resolution photo. Off: the "
                    "model's depth is only scaled up (faster, softer edges).",
                ),
                io.Combo.Input(
                    "precision",
                    options=list(PRECISIONS),
                    default="fp32",
                    tooltip="Number precision of the depth model: fp32 most exact; fp16/bf16 faster and smaller on "
                    "GPUs only (the CPU always runs fp32). No effect on the portrait prior.",
                ),
            ],
            outputs=[
                Depth.Output(
                    display_name="depth",
                    tooltip="Distance from the lens of every pixel in metres, with the focal length and sensor it "
                    "assumed (Portrait Bokeh checks them).",
                ),
                io.Image.Output(display_name="preview", tooltip="The depth as a picture: near = white, far = black."),
                io.Mask.Output(
                    display_name="subject_mask",
                    tooltip="The person (white) against the background (black), soft along hair and edges.",
                ),
            ],
        )

    OWN_CHECKS = ("model",)  # an installed model, with the folder to put one into

    @classmethod
    def missing_models(cls, model=None, **_) -> str | None:
        if model is None or model == PRIOR:
            return None
        try:
            depth_networks.resolve(model)
        except ModelFileError as e:
            return str(e)
        if model not in depth_networks.available_models():
            return f"model {model!r} is not an installed depth model; choose one of the list (or {PRIOR!r})"
        return None

    @classmethod
    def execute(
        cls, image, model, subject_distance_m, background_distance_m, focal_length_mm, sensor, refine_edges, precision
    ) -> io.NodeOutput:
        settings = EstimateSettings(subject_distance_m, background_distance_m, focal_length_mm, sensor, refine_edges)
        net = None if model == PRIOR else depth_networks.network_on_device(model, precision)
        with caught_warnings("DepthEstimate") as warned:
            dm, matte = estimate_depth(
                image,
                settings,
                net,
                device=runtime.compute_device(),
                progress=runtime.progress(image.shape[0] * PROGRESS_STEPS),
            )
        out = runtime.output_device()
        dm = dm.to(out)
        preview = depth_preview(dm.metres)
        return io.NodeOutput(dm, preview, matte.to(out), ui=_readout(dm, preview, matte, warned))


def _readout(dm, preview, matte, warned=()) -> dict:
    """Depth and matte previews; depth range, source and subject distance as numbers."""
    d = dm.metres
    near, far = float(d.min()), float(d.max())
    subject = dm.meta.get("subject_distance_m")
    how = dm.meta.get("subject_distance_from", "")
    model = dm.meta.get("model", "")
    lines = [f"{model}: {dm.source}, {near:.2f}–{far:.2f} m"]
    if subject is not None:
        lines.append(f"subject {subject} m" + (f" ({how})" if how else ""))
    layout = dm.meta.get("layout") or {}
    if layout.get("summary"):
        lines.append(layout["summary"])  # what the background's depth assumed, and from what
    people = dm.meta.get("people") or []
    if len(people) > 1:
        lines.append(f"{len(people)} people (person 1 is the subject, nearest first):")
        lines += [people_line(p) for p in people]
    labels = {"depth": f"depth {metres(near)}–{metres(far)} ({dm.source})"}
    if subject is not None:
        labels["subject_mask"] = f"subject {metres(float(subject))}"
    values = {
        "source": dm.source,
        "model": model,
        "near_m": near,
        "far_m": far,
        "subject_distance_m": subject,
        "subject_distance_from": how,
        "focal_length_mm": dm.meta.get("focal_length_mm"),
        "sensor": dm.meta.get("sensor"),
        "people": people,
        "background": layout,
    }
    return node_ui(images=(preview,), masks=(matte,), lines=lines, labels=labels, values=values, warnings=list(warned))
