"""Image-projection models that turn a 512-d ArcFace embedding into identity tokens for the UNet's
cross-attention, in plain torch with the published parameter names (so published weights load with
``load_state_dict(strict=True)``).

* ``Resampler`` (InstantID): a perceiver resampler; embedding ``[B,1,512]`` → tokens ``[B,Q,C]``
  (published: Q 16, width 1280, 4 layers, C 2048).
* ``MLPProjection`` (IP-Adapter FaceID and FaceID Portrait): Linear–GELU–Linear then LayerNorm;
  embedding ``[B,512]`` → tokens ``[B,T,C]`` (published: T 4 or 16, C 768 for SD 1.5, 2048 for SDXL).
* ``FaceIDPlusProjection`` (IP-Adapter FaceID Plus / PlusV2): ``MLPProjection``'s tokens ``x`` ``[B,T,C]``
  refined by a ``FacePerceiverResampler`` (``x`` as its queries) attending over CLIP vision penultimate
  hidden states ``[B,N,D]`` of the aligned face crop; out ``x + scale · resampler(x, clip)`` with the
  shortcut (PlusV2), else ``resampler(x, clip)`` (Plus). Published: T 4, C 768 / 2048, D 1280 (ViT-H), depth 4.

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


def perceiver_layers(dim: int, depth: int, inner: int, ff: int) -> nn.ModuleList:
    """``depth`` × [attention (``inner`` wide, 64-wide heads), feed-forward (LayerNorm–Linear–GELU–Linear)]."""
    heads = max(1, inner // HEAD_WIDTH)
    return nn.ModuleList(
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


def run_perceiver(layers: nn.ModuleList, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """The latents ``[B,Q,dim]`` after every layer attended over ``x`` ``[B,N,dim]`` (residual each step)."""
    for layer in layers:  # each layer: attention, then feed-forward
        attn, ff = cast(nn.ModuleList, layer)
        latents = attn(x, latents) + latents
        latents = ff(latents) + latents
    return latents


def _perceiver_shape(sd: dict[str, torch.Tensor]) -> dict[str, int]:
    return {
        "depth": 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("layers.")),
        "inner": sd["layers.0.0.to_q.weight"].shape[0],
        "embedding_dim": sd["proj_in.weight"].shape[1],
        "output_dim": sd["proj_out.weight"].shape[0],
        "ff": sd["layers.0.1.1.weight"].shape[0],
    }


class Resampler(nn.Module):
    def __init__(self, dim: int, depth: int, inner: int, queries: int, embedding_dim: int, output_dim: int, ff: int):
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(1, queries, dim))
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.layers = perceiver_layers(dim, depth, inner, ff)

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> Resampler:
        _, queries, dim = sd["latents"].shape
        model = cls(dim=dim, queries=queries, **_perceiver_shape(sd))
        model.load_state_dict(sd, strict=True)
        return model

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(embedding.reshape(embedding.shape[0], -1, embedding.shape[-1]))
        latents = run_perceiver(self.layers, x, self.latents.repeat(x.shape[0], 1, 1))
        return self.norm_out(self.proj_out(latents))


class FacePerceiverResampler(nn.Module):
    """A perceiver resampler without learnt latents: the queries come in (FaceID Plus's id tokens)."""

    def __init__(self, dim: int, depth: int, inner: int, embedding_dim: int, output_dim: int, ff: int):
        super().__init__()
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.layers = perceiver_layers(dim, depth, inner, ff)

    def forward(self, latents: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Queries ``[B,T,dim]`` attending over ``features`` ``[B,N,embedding_dim]`` → ``[B,T,output_dim]``."""
        latents = run_perceiver(self.layers, self.proj_in(features), latents)
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


class FaceIDPlusProjection(nn.Module):
    """IP-Adapter FaceID Plus / PlusV2: ``proj`` / ``norm`` as ``MLPProjection`` and a ``perceiver_resampler``."""

    def __init__(self, mlp: MLPProjection, resampler: FacePerceiverResampler):
        super().__init__()
        self.tokens, self.width = mlp.tokens, mlp.width
        self.proj, self.norm = mlp.proj, mlp.norm
        self.perceiver_resampler = resampler

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> FaceIDPlusProjection:
        pre = "perceiver_resampler."
        inner = {k[len(pre) :]: v for k, v in sd.items() if k.startswith(pre)}
        width = sd["norm.weight"].shape[0]
        hidden, embedding_dim = sd["proj.0.weight"].shape
        mlp = MLPProjection(embedding_dim, hidden, width, sd["proj.2.weight"].shape[0] // width)
        resampler = FacePerceiverResampler(dim=inner["proj_in.weight"].shape[0], **_perceiver_shape(inner))
        model = cls(mlp, resampler)
        model.load_state_dict(sd, strict=True)
        return model

    @property
    def clip_width(self) -> int:
        """The width of the CLIP vision hidden states it takes (ViT-H: 1280)."""
        return int(self.perceiver_resampler.proj_in.in_features)

    def forward(
        self, embedding: torch.Tensor, clip: torch.Tensor, shortcut: bool = False, scale: float = 1.0
    ) -> torch.Tensor:
        """Embedding ``[B,512]`` and CLIP hidden states ``[B,N,D]`` → tokens ``[B,T,C]``."""
        x = self.norm(self.proj(embedding.reshape(embedding.shape[0], -1)).reshape(-1, self.tokens, self.width))
        out = self.perceiver_resampler(x, clip)
        return x + scale * out if shortcut else out


def build_projection(kind: str, sd: dict[str, torch.Tensor]) -> nn.Module:
    """The projection model of an adapter ``kind`` (see ``adapters.AdapterLayout.kind``)."""
    if kind in ("instantid", "faceid-portrait-unnorm"):
        return Resampler.from_state_dict(sd)
    if kind in ("faceid", "faceid-portrait"):
        return MLPProjection.from_state_dict(sd)
    if kind in ("faceid-plus", "faceid-plusv2"):
        return FaceIDPlusProjection.from_state_dict(sd)
    raise ValueError(f"no projection model for adapter kind {kind!r}")
