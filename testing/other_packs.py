"""A stand-in for another pack's identity adapter in the same graph, written to the attention-patch protocol
cubiq's ComfyUI_IPAdapter_plus and ComfyUI_InstantID use (their code is not copied here; the protocol is):

* the apply node clones the MODEL, then for each cross-attention layer n (diffusers order) registers under
  ``model_options["transformer_options"]["patches_replace"]["attn2"][key]``: SD 1.5 two-part keys
  ``("input", i)`` / ``("output", i)`` / ``("middle", 1)``, SDXL three-part keys ``("input", i, t)`` /
  ``("output", i, t)`` / ``("middle", 1, t)`` (their middle-block key, which ComfyUI never calls);
* when an object is already at the key it calls ``existing.add(callback, **kwargs)`` on it, else it puts
  its own ``Attn2Replace``-like object there (text attention, then each callback's term added, each gated by
  ``sigma_start`` / ``sigma_end``);
* a callback is ``callback(out, q, k, v, extra_options, **kwargs)`` and returns the term to add.

The stand-in's term is ``weight × attention(q, K_n, V_n)`` over 4 fixed random tokens per layer (seeded by
the layer's number), so its contribution is known exactly; every call is logged by layer number.
"""

from __future__ import annotations

import torch

SD15_BLOCKS = {"input": (1, 2, 4, 5, 7, 8), "output": (3, 4, 5, 6, 7, 8, 9, 10, 11)}
SDXL_BLOCKS = {  # (block, transformer depth)
    "input": ((4, 2), (5, 2), (7, 10), (8, 10)),
    "output": ((0, 10), (1, 10), (2, 10), (3, 2), (4, 2), (5, 2)),
}


def other_pack_tokens(module_key: str, width: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The stand-in's fixed keys and values ``[1,4,width]`` for layer ``module_key``."""
    g = torch.Generator().manual_seed(1000 + int(module_key))
    k = torch.randn(1, 4, width, generator=g)
    v = torch.randn(1, 4, width, generator=g)
    return k.to(device=device, dtype=dtype), v.to(device=device, dtype=dtype)


def other_pack_term(q: torch.Tensor, extra_options: dict, module_key: str, weight: float) -> torch.Tensor:
    """``weight × attention(q, K, V)`` over the layer's 4 fixed tokens, ``[B,N,C]``."""
    from comfy.ldm.modules.attention import optimized_attention

    k, v = other_pack_tokens(module_key, q.shape[-1], q.device, q.dtype)
    b = q.shape[0]
    return optimized_attention(q, k.expand(b, -1, -1), v.expand(b, -1, -1), extra_options["n_heads"]) * weight


class OtherPackAttention:
    """The stand-in's own patch object (like cubiq's ``Attn2Replace``): text attention plus every added term."""

    def __init__(self, callback, **kwargs):
        self.callbacks = [(callback, kwargs)]

    def add(self, callback, **kwargs):
        self.callbacks.append((callback, kwargs))

    def __call__(self, q, k, v, extra_options):
        from comfy.ldm.modules.attention import optimized_attention

        out = optimized_attention(q, k, v, extra_options["n_heads"])
        sigma = float(extra_options["sigmas"][0]) if "sigmas" in extra_options else 999999999.9
        for callback, kwargs in self.callbacks:
            if kwargs["sigma_end"] <= sigma <= kwargs["sigma_start"]:
                out = out + callback(out, q, k, v, extra_options, **kwargs)
        return out.to(q.dtype)


CALLS: dict[int, list[int]] = {}  # pack id → layer numbers its callback ran for (the log survives deep copies)


def other_pack_callback(out, q, k, v, extra_options, module_key="", weight=1.0, pack=0, **kwargs):
    """The stand-in's callback: a module-level function, as cubiq's (``model.clone()`` deep-copies patches)."""
    CALLS.setdefault(pack, []).append(int(module_key))
    return other_pack_term(q, extra_options, module_key, weight)


class OtherPack:
    """One apply node of the stand-in pack: ``apply(model, family)`` returns a patched clone; ``calls``
    lists the layer numbers its callback ran for."""

    _next = 0

    def __init__(self, weight: float = 1.0):
        self.weight = weight
        OtherPack._next += 1
        self.id = OtherPack._next
        CALLS[self.id] = []

    @property
    def calls(self) -> list[int]:
        return CALLS[self.id]

    def keys(self, family: str) -> list[tuple]:
        """The keys in layer order, as the stand-in's pack writes them for ``family`` ("sd15" / "sdxl")."""
        if family == "sd15":
            return (
                [("input", i) for i in SD15_BLOCKS["input"]]
                + [("output", i) for i in SD15_BLOCKS["output"]]
                + [("middle", 1)]
            )
        out = [("input", i, t) for i, depth in SDXL_BLOCKS["input"] for t in range(depth)]
        out += [("output", i, t) for i, depth in SDXL_BLOCKS["output"] for t in range(depth)]
        return out + [("middle", 1, t) for t in range(10)]

    def apply(self, model, family: str, sigma_start: float = 999999999.9, sigma_end: float = 0.0):
        work = model.clone()
        for number, key in enumerate(self.keys(family)):
            kwargs = {
                "module_key": str(2 * number + 1),
                "weight": self.weight,
                "pack": self.id,
                "sigma_start": sigma_start,
                "sigma_end": sigma_end,
            }
            to = work.model_options["transformer_options"].copy()
            to["patches_replace"] = dict(to.get("patches_replace", {}))
            attn2 = to["patches_replace"]["attn2"] = dict(to["patches_replace"].get("attn2", {}))
            if key in attn2:
                attn2[key].add(other_pack_callback, **kwargs)
            else:
                attn2[key] = OtherPackAttention(other_pack_callback, **kwargs)
            work.model_options["transformer_options"] = to
        return work
