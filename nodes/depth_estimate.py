"""DepthEstimate: metric depth from one image, edges that follow the image."""

from __future__ import annotations

from comfy_api.latest import io, ui

from portraitos.engine.depth import PRIOR, EstimateSettings, ModelFileError, depth_preview, estimate_depth
from portraitos.engine.depth.networks import PRECISIONS
from portraitos.engine.depth.portrait_prior import PROGRESS_STEPS
from portraitos.engine.lens import DEFAULT_SENSOR, SENSORS

from . import checks, depth_networks, runtime
from .types import CATEGORY, Depth


class DepthEstimate(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DepthEstimate",
            display_name="Depth Estimate (metric)",
            category=CATEGORY,
            description="Metric depth in metres from one image: Depth Pro / Depth Anything V2 from local files, or a "
            "weight-free portrait prior. Edges refined along the image at full resolution.",
            inputs=[
                io.Image.Input("image"),
                io.Combo.Input("model", options=depth_networks.available_models(), default=PRIOR),
                io.Float.Input(
                    "subject_distance_m",
                    default=0.0,
                    min=0.0,
                    max=100.0,
                    step=0.01,
                    tooltip="0 = estimate from the face's size",
                ),
                io.Float.Input(
                    "background_distance_m",
                    default=6.0,
                    min=0.2,
                    max=1000.0,
                    step=0.1,
                    tooltip="Far plane for relative models and the portrait prior",
                ),
                io.Float.Input(
                    "focal_length_mm",
                    default=85.0,
                    min=10.0,
                    max=400.0,
                    step=1.0,
                    tooltip="The framing the depth should be consistent with (as in LensBokeh)",
                ),
                io.Combo.Input("sensor", options=list(SENSORS), default=DEFAULT_SENSOR),
                io.Boolean.Input("refine_edges", default=True),
                io.Combo.Input(
                    "precision",
                    options=list(PRECISIONS),
                    default="fp32",
                    tooltip="fp16/bf16 only on GPUs; the CPU always runs fp32",
                ),
            ],
            outputs=[
                Depth.Output(display_name="depth"),
                io.Image.Output(display_name="preview"),
                io.Mask.Output(display_name="subject_mask"),
            ],
        )

    @classmethod
    def validate_inputs(
        cls,
        image=None,
        model=None,
        subject_distance_m=None,
        background_distance_m=None,
        focal_length_mm=None,
        sensor=None,
        precision=None,
    ) -> bool | str:
        problem = checks.first(
            checks.connected(cls, image=image),
            checks.options(cls, sensor=sensor, precision=precision),
            checks.numbers(
                cls,
                subject_distance_m=subject_distance_m,
                background_distance_m=background_distance_m,
                focal_length_mm=focal_length_mm,
            ),
        )
        if problem is not True or model is None or model == PRIOR:
            return problem
        try:
            depth_networks.resolve(model)
        except ModelFileError as e:
            return str(e)
        if model not in depth_networks.available_models():
            return f"model {model!r} is not an installed depth model; choose one of the list (or {PRIOR!r})"
        return True

    @classmethod
    def execute(
        cls, image, model, subject_distance_m, background_distance_m, focal_length_mm, sensor, refine_edges, precision
    ) -> io.NodeOutput:
        settings = EstimateSettings(subject_distance_m, background_distance_m, focal_length_mm, sensor, refine_edges)
        net = None if model == PRIOR else depth_networks.network_on_device(model, precision)
        dm, matte = estimate_depth(
            image,
            settings,
            net,
            device=runtime.compute_device(),
            progress=runtime.progress_callback(image.shape[0] * PROGRESS_STEPS),
            check_interrupt=runtime.check_interrupt,
        )
        out = runtime.output_device()
        dm = dm.to(out)
        d = dm.metres[0]
        text = (
            f"{dm.meta.get('model', model)}: {dm.source}, {float(d.min()):.2f}–{float(d.max()):.2f} m, "
            f"subject {dm.meta.get('subject_distance_m', '?')} m"
        )
        return io.NodeOutput(dm, depth_preview(dm.metres), matte.to(out), ui=ui.PreviewText(text))
