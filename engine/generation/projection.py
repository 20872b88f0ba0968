"""Image-projection models that turn a 512-d ArcFace embedding into identity tokens for the UNet's
cross-attention, in plain torch with the published parameter names (so published weights load with
``load_state_dict(strict=True)``).

* ``Resampler`` (InstantID): a perceiver resampler; embedding ``[B,1,512]`` → tokens ``[B,Q,C]``
  (published: Q 16, width 1280, 4 layers, C 2048).
* ``MLPProjection`` (IP-Adapter FaceID and FaceID Portrait): Linear–GELU–Linear then LayerNorm;
  embedding ``[B,512]`` → tokens ``[B,T,C]`` (published: T 4 or 16, C 768 for SD 1.5, 2048 for SDXL).

Hyper-parameters are read from the weights' shapes (heads: the published 64-wide heads).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

HEAD_WIDTH = 64


class PerceiverAttention(nn.Module):
    def __init__(self, dim: int, inner: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        x, latents = self.norm1(x), self.norm2(latents)
        b, n, _ = latents.shape
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat([x, latents], dim=1)).chunk(2, dim=-1)
        q, k, v = (t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class Resampler(nn.Module):
    def __init__(self, dim: int, depth: int, inner: int, queries: int, embedding_dim: int, output_dim: int, ff: int):
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(1, queries, dim))
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        heads = max(1, inner // HEAD_WIDTH)
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PerceiverAttention(dim, inner, heads),
                    nn.Sequential(
                        nn.LayerNorm(dim), nn.Linear(dim, ff, bias=False), nn.GELU(), nn.Linear(ff, dim, bias=False)
                    ),
                ]
            )
            for _ in range(depth)
        )

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> Resampler:
        depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("layers."))
        _, queries, dim = sd["latents"].shape
        model = cls(
            dim=dim,
            depth=depth,
            inner=sd["layers.0.0.to_q.weight"].shape[0],
            queries=queries,
            embedding_dim=sd["proj_in.weight"].shape[1],
            output_dim=sd["proj_out.weight"].shape[0],
            ff=sd["layers.0.1.1.weight"].shape[0],
        )
        model.load_state_dict(sd, strict=True)
        return model

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(embedding.reshape(embedding.shape[0], -1, embedding.shape[-1]))
        latents = self.latents.repeat(x.shape[0], 1, 1)
        for layer in self.layers:  # each layer: attention, then feed-forward
            attn, ff = cast(nn.ModuleList, layer)
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm_out(self.proj_out(latents))


class MLPProjection(nn.Module):
    def __init__(self, embedding_dim: int, hidden: int, width: int, tokens: int):
        super().__init__()
        self.tokens, self.width = tokens, width
        self.proj = nn.Sequential(nn.Linear(embedding_dim, hidden), nn.GELU(), nn.Linear(hidden, width * tokens))
        self.norm = nn.LayerNorm(width)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> MLPProjection:
        width = sd["norm.weight"].shape[0]
        hidden, embedding_dim = sd["proj.0.weight"].shape
        model = cls(embedding_dim, hidden, width, sd["proj.2.weight"].shape[0] // width)
        model.load_state_dict(sd, strict=True)
        return model

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = self.proj(embedding.reshape(embedding.shape[0], -1))
        return self.norm(x.reshape(-1, self.tokens, self.width))


def build_projection(kind: str, sd: dict[str, torch.Tensor]) -> nn.Module:
    """The projection model of an adapter ``kind`` (see ``adapters.AdapterLayout.kind``)."""
    if kind == "instantid":
        return Resampler.from_state_dict(sd)
    if kind in ("faceid", "faceid-portrait"):
        return MLPProjection.from_state_dict(sd)
    raise ValueError(f"no projection model for adapter kind {kind!r}")
