"""DepthEstimate in a real in-process ComfyUI says what the background's depth assumed: a receding
façade (an exact pinhole render) reads as a receding wall, a face-on wall as one assumed plane."""

import pytest
import torch

from portraitos.engine.lens.optics import ThinLens
from portraitos.testing.comfy_host import run_node
from portraitos.validation.reference import card, pattern_texture, render_pinhole, to_photo
from portraitos.validation.scenes import facade_scene

PRIOR = "portrait prior (no weights)"


def person():
    """The astronaut photo on a card (1.5 mm per photo pixel: her iris 11.7 mm), cut to an ellipse
    around her head and shoulders, her face on the optical axis."""
    import torch.nn.functional as F
    from skimage import data

    from portraitos.engine.core.colour import srgb_to_linear

    lin = srgb_to_linear(torch.from_numpy(data.astronaut()).float() / 255).permute(2, 0, 1)[None].double()
    x0, y0 = -225 * 1.5, -150 * 1.5

    def tex(x, y):
        u, v = (x - x0) / 1.5, (y - y0) / 1.5
        grid = torch.stack([u / 256 - 1, v / 256 - 1], -1).reshape(1, 1, -1, 2)
        s = F.grid_sample(lin, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
        inside = ((u - 225) / 200) ** 2 + ((v - 300) / 330) ** 2 <= 1
        return s.T.reshape(*x.shape, 3), inside.to(x.dtype)

    return tex


@pytest.mark.parametrize("receding", [True, False])
def test_the_readout_says_what_the_background_assumed(comfy_nodes, receding):
    planes = (
        facade_scene(person()) if receding else [card(6.0, pattern_texture(70.0, (0.7, 0.8, 1.0))), card(3.0, person())]
    )
    lin, _ = render_pinhole(planes, ThinLens(85.0, 1.8, 3.0), 360, 480, pixel_samples=2)
    depth, _, _ = out = run_node(
        comfy_nodes.NODE_CLASS_MAPPINGS["DepthEstimate"],
        image=to_photo(lin)[None],
        model=PRIOR,
        subject_distance_m=3.0,
        background_distance_m=6.0,
    )
    text = out.ui["text"][0]
    layout = depth.meta["layout"]
    assert layout["summary"] in text
    if receding:
        assert layout["background"] == "receding wall" and "background: receding wall" in text
        d = depth.metres[0]
        assert float(d[:, -20:].median()) > 1.6 * float(d[:, :20].median())  # it recedes left to right
    else:
        assert "one plane 6 m (assumed" in text
        assert float(depth.metres[0, :20, -20:].median()) == 6.0
