"""Front-of-focus blur keeps its light at the frame's edges, at any aspect ratio and any blur size.

Light a foreground pixel scatters off the frame is made up for by light from outside the frame that the
photo did not record (the frame's content is taken to continue beyond its edge): the linear-light mean of
a scene that lies entirely in front of the focus plane is kept, and no strip along an edge darkens."""

import warnings

import pytest
import torch

from portraitos.engine.core.colour import srgb_to_linear
from portraitos.engine.lens import Aperture, HighlightRebuild, LensSettings, render_lens_bokeh

NO_HL = HighlightRebuild(boost=0.0)


def textured(h, w, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return 0.3 + 0.4 * torch.rand(1, h, w, 3, generator=gen)


@pytest.mark.parametrize(
    "h, w, focal, f_number, focus_m, depth_m",
    [
        (16, 4096, 400.0, 0.7, 1000.0, 5.0),  # the reported strip: the CoC is many times the short side
        (108, 192, 135.0, 1.4, 1000.0, 3.0),  # 16:9, everything in front
        (192, 108, 135.0, 1.4, 1000.0, 3.0),  # 9:16
        (108, 192, 400.0, 0.7, 1000.0, 3.0),  # a frame-sized blur
        (64, 64, 85.0, 1.2, 50.0, 1.0),  # square, moderate blur
    ],
)
def test_front_of_focus_blur_keeps_the_light_at_every_aspect_ratio(h, w, focal, f_number, focus_m, depth_m):
    img = textured(h, w)
    depth = torch.full((1, h, w), depth_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frame-sized blur: the cap's warning
        out = render_lens_bokeh(img, depth, LensSettings(focal, f_number, focus_m), Aperture(), NO_HL)
    assert float(out.coc_px.max()) < -2.0  # all in front of the focus plane, visibly blurred
    lin_in = srgb_to_linear(img[0]).mean()
    lin_out = srgb_to_linear(out.image[0])
    assert float(lin_out.mean() / lin_in) == pytest.approx(1.0, abs=0.05)
    # no edge strip darkens: every row and column keeps at least 80 % of the mean
    assert float(lin_out.mean(dim=(1, 2)).min() / lin_in) > 0.8
    assert float(lin_out.mean(dim=(0, 2)).min() / lin_in) > 0.8


def test_a_foreground_at_the_frame_edge_over_a_background_does_not_darken():
    """A near object filling the left third, a far wall behind the rest, focus on the wall."""
    h, w = 96, 144
    img = torch.full((1, h, w, 3), 0.5)
    depth = torch.full((1, h, w), 10.0)
    depth[:, :, :48] = 0.6
    out = render_lens_bokeh(img, depth, LensSettings(85.0, 1.4, 10.0), Aperture(), NO_HL)
    lin = srgb_to_linear(out.image[0])
    ref = float(srgb_to_linear(torch.tensor(0.5)))
    assert float(lin.min()) > 0.8 * ref and float(lin.max()) < 1.2 * ref
