"""Head relief from the face mesh: how far each pixel of the face lies behind the eyes, in metres,
and how much of each pixel the face covers (the body's depth takes the rest).

The mesh's z (image pixels, scaled like x; smaller = nearer) becomes metres with the weak-perspective
scale of the face: at distance Z with focal length f_px, one pixel spans Z / f_px metres.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GRID = 128  # resolution of the relief field over the face's neighbourhood
MARGIN = 0.6  # the field covers the mesh's box grown by this fraction on each side


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x [N,1,H,W]`` blurred by a separable Gaussian of ``sigma`` cells, edges replicated."""
    r = max(1, int(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def head_relief_window(
    mesh: torch.Tensor,
    eye_z_px: float,
    metres_per_px: float,
    height: int,
    width: int,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]] | None:
    """Offset behind the eyes in metres over the face's neighbourhood and how much of it the face
    covers: ``(relief, cover, window)``, the mesh's relief and a weight 1 inside the face falling
    smoothly to 0 away from it (the caller blends in the body's depth by ``1 - cover``), over the window
    ``(y0, y1, x0, x1)`` of the ``height`` × ``width`` image (beyond it the cover is 0); None when the
    window is empty.

    mesh: ``[468,3]`` image pixels (x, y, z). eye_z_px: the mesh z of the eyes (the zero of the relief).
    """
    m = mesh.detach().float().cpu()
    lo, hi = m[:, :2].min(0).values, m[:, :2].max(0).values
    size = hi - lo
    x0, y0 = (lo - MARGIN * size).tolist()
    x1, y1 = (hi + MARGIN * size).tolist()
    gw, gh = GRID, GRID
    cx = ((m[:, 0] - x0) / (x1 - x0) * gw).long().clamp(0, gw - 1)
    cy = ((m[:, 1] - y0) / (y1 - y0) * gh).long().clamp(0, gh - 1)
    idx = cy * gw + cx
    weight = torch.zeros(gh * gw).index_add_(0, idx, torch.ones(len(m)))
    value = torch.zeros(gh * gw).index_add_(0, idx, (m[:, 2] - eye_z_px) * metres_per_px)
    weight, value = weight.view(1, 1, gh, gw), value.view(1, 1, gh, gw)
    # normalised convolution: σ about the spacing of the mesh points in grid cells
    spacing = float(size.max()) / 22.0 / ((x1 - x0) / gw)
    sigma = max(1.0, spacing)
    wb, vb = gaussian_blur(weight, sigma), gaussian_blur(value, sigma)
    z = vb / wb.clamp_min(1e-8)
    # coverage: 1 well inside the mesh, falling to 0 beyond its outline
    inside_level = float(wb.amax()) * 0.35
    cover = (wb / inside_level).clamp(0, 1)
    cover = gaussian_blur(cover, 2 * sigma).clamp(0, 1)
    field = torch.cat([z, cover], 1)
    # place the field in the image; beyond the grid, the outside value
    X0, Y0 = int(max(0, round(x0))), int(max(0, round(y0)))
    X1, Y1 = int(min(width, round(x1))), int(min(height, round(y1)))
    if X1 <= X0 or Y1 <= Y0:
        return None
    # sample the field at the pixel centres of the window
    xs = (torch.arange(X0, X1, dtype=torch.float32) + 0.5 - x0) / (x1 - x0) * 2 - 1
    ys = (torch.arange(Y0, Y1, dtype=torch.float32) + 0.5 - y0) / (y1 - y0) * 2 - 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None]
    patch = F.grid_sample(
        field.to(device), grid.to(device), mode="bilinear", padding_mode="border", align_corners=False
    )
    return patch[0, 0], patch[0, 1], (Y0, Y1, X0, X1)
