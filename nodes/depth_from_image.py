"""DepthFromImage: a depth picture from another pack (Depth Anything V2, MiDaS, controlnet_aux) made metric."""

from __future__ import annotations

from comfy_api.latest import io

from portraitos.engine.depth import CALIBRATIONS, ENCODINGS, ImageDepthSettings, depth_from_picture, depth_preview
from portraitos.engine.depth.from_image import DISPARITY, FACE
from portraitos.engine.lens import DEFAULT_SENSOR, SENSORS
from portraitos.engine.presets import DEFAULT_LENS
from portraitos.services import runtime
from portraitos.services.readout import caught_warnings, metres, node_ui
from portraitos.services.search_words import SearchWords
from portraitos.services.socket_types import CATEGORY_DEPTH, Depth
from portraitos.services.validation import SchemaChecked


class DepthFromImage(SearchWords, SchemaChecked, io.ComfyNode):
    SEARCH_ALIASES = ("depth anything", "midas", "zoe", "disparity", "depth map", "controlnet depth")

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="DepthFromImage",
            display_name="Depth Image to Portrait Depth",
            category=CATEGORY_DEPTH,
            description="Turn the depth picture of another depth node (Depth Anything V2, MiDaS / controlnet_aux "
            "depth, Zoe: near = bright) into distances in metres for background blur, calibrated like Portrait "
            "Depth: from the face's size in the photo, or from the nearest and farthest distances you give.",
            inputs=[
                io.Image.Input(
                    "depth_image",
                    optional=True,
                    tooltip="The depth picture from the other depth node (IMAGE). Connect this or depth_mask.",
                ),
                io.Mask.Input(
                    "depth_mask",
                    optional=True,
                    tooltip="The depth as a MASK instead of an IMAGE. Connect this or depth_image.",
                ),
                io.Image.Input(
                    "image",
                    optional=True,
                    tooltip="The photo the depth was made from: 'face' calibration finds the face in it (its size "
                    "gives the distance). Not needed for near/far distances.",
                ),
                io.Combo.Input(
                    "encoding",
                    options=list(ENCODINGS),
                    default=DISPARITY,
                    tooltip="What the grey values stand for. disparity (Depth Anything, MiDaS, controlnet_aux): "
                    "brightness ∝ 1/distance. distance: brightness proportional to the distance itself.",
                ),
                io.Boolean.Input(
                    "near_is_bright",
                    default=True,
                    tooltip="On: near things are bright (Depth Anything, MiDaS, controlnet_aux). Off: near things "
                    "are dark (most 3D renders' Z pictures).",
                ),
                io.Combo.Input(
                    "calibration",
                    options=list(CALIBRATIONS),
                    default=FACE,
                    tooltip="How the picture gets metres. face: the subject sits at near_distance_m, or when that "
                    "is 0 (auto) at the distance the face's size gives; the far background at far_distance_m. "
                    "near/far distances: the brightest value is near_distance_m, the darkest far_distance_m.",
                ),
                io.Float.Input(
                    "near_distance_m",
                    default=0.0,
                    min=0.0,
                    max=1000.0,
                    step=0.01,
                    tooltip="face: the camera-to-face distance in metres, 0 = auto from the face's size. "
                    "near/far distances: the distance of the nearest (brightest) point, must be above 0.",
                ),
                io.Float.Input(
                    "far_distance_m",
                    default=6.0,
                    min=0.2,
                    max=1000.0,
                    step=0.1,
                    tooltip="Distance of the far background in metres (the darkest values). Farther = more "
                    "background blur.",
                ),
                io.Float.Input(
                    "focal_length_mm",
                    default=DEFAULT_LENS.focal_length_mm,
                    min=10.0,
                    max=400.0,
                    step=1.0,
                    tooltip="Focal length the photo was taken with (turns the face's size into a distance); the "
                    "depth remembers it, so set the same on Portrait Bokeh.",
                ),
                io.Combo.Input(
                    "sensor",
                    options=list(SENSORS),
                    default=DEFAULT_SENSOR,
                    tooltip="Sensor size of the camera that took the photo. Set the same on Portrait Bokeh.",
                ),
            ],
            outputs=[
                Depth.Output(
                    display_name="depth",
                    tooltip="Distance from the lens of every pixel in metres (at the depth picture's size; Lens "
                    "Bokeh Blur fits it to the photo), with the lens it assumed.",
                ),
                io.Image.Output(display_name="preview", tooltip="The metric depth as a picture: near = white."),
                io.Mask.Output(
                    display_name="subject_mask", tooltip="The near subject (white) against the background (black)."
                ),
            ],
        )

    @classmethod
    def check_inputs(cls, calibration=None, near_distance_m=None, far_distance_m=None, **_) -> str | None:
        if calibration not in (None, FACE) and not (0 < (near_distance_m or 0) < (far_distance_m or 0)):
            return (
                f"near/far distances need 0 < near_distance_m < far_distance_m, got {near_distance_m} m and "
                f"{far_distance_m} m; set the nearest point's distance, or choose calibration 'face'"
            )
        return None

    @classmethod
    def execute(
        cls,
        encoding,
        near_is_bright,
        calibration,
        near_distance_m,
        far_distance_m,
        focal_length_mm,
        sensor,
        depth_image=None,
        depth_mask=None,
        image=None,
    ) -> io.NodeOutput:
        picture = depth_image if depth_image is not None else depth_mask
        if picture is None:
            raise ValueError(
                "DepthFromImage needs a depth picture: connect depth_image (IMAGE) or depth_mask (MASK) from a "
                "depth node such as Depth Anything V2 or controlnet_aux"
            )
        settings = ImageDepthSettings(
            encoding, near_is_bright, calibration, near_distance_m, far_distance_m, focal_length_mm, sensor
        )
        runtime.check_interrupt()
        with caught_warnings("DepthFromImage") as warned:
            dm, matte = depth_from_picture(picture, settings, image, progress=runtime.progress(1000))
        out = runtime.output_device()
        dm = dm.to(out)
        preview = depth_preview(dm.metres)
        near, far = float(dm.metres.min()), float(dm.metres.max())
        subject = dm.meta.get("subject_distance_m")
        how = dm.meta.get("subject_distance_from", "")
        lines = [f"{encoding} picture, {calibration}: {near:.2f}–{far:.2f} m"]
        labels = {"depth": f"depth {metres(near)}–{metres(far)} (calibrated)"}
        if subject is not None:
            lines.append(f"subject {subject} m ({how})")
            labels["subject_mask"] = f"subject {metres(float(subject))}"
        values = {"source": dm.source, "near_m": near, "far_m": far, "subject_distance_m": subject}
        values.update(subject_distance_from=how, focal_length_mm=focal_length_mm, sensor=sensor)
        return io.NodeOutput(
            dm,
            preview,
            matte.to(out),
            ui=node_ui(images=(preview,), masks=(matte,), lines=lines, labels=labels, values=values, warnings=warned),
        )
