"""The batched sampling loop behind PortraitGenerate: each image of a batch with its own prompt and seed,
in sub-batches that fit the compute device's free memory, through ``comfy.sample`` (ComfyUI's own
sampling path: its samplers, schedulers, model patches, previews and progress bar).

Images come back ``[B,H,W,3]`` float 0..1 on the CPU, latents ``[B,4,H/8,W/8]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import comfy.model_management as mm
import comfy.sample
import comfy.utils
import latent_preview
import torch

from portraitos.engine.generation import composite

from . import runtime


@dataclass(frozen=True)
class SamplingPlan:
    """What every image of the batch is sampled with: steps, cfg, ComfyUI's sampler and scheduler names,
    and the size in pixels (multiples of 8)."""

    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int


def _stack_conds(conds: list[torch.Tensor]) -> torch.Tensor:
    """Per-image text conditionings ``[1,T_i,C]`` as one ``[B,T,C]`` (T the least common multiple, each
    repeated as ComfyUI does when it batches conditionings of different lengths)."""
    lcm = 1
    for c in conds:
        lcm = lcm * c.shape[1] // math.gcd(lcm, c.shape[1])
    return torch.cat([c.repeat(1, lcm // c.shape[1], 1) for c in conds])


def _encode(clip, texts: list[str], cache: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    conds, pooled = [], []
    for t in texts:
        if t not in cache:
            cache[t] = clip.encode_from_tokens(clip.tokenize(t), return_pooled=True)
        c, p = cache[t]
        conds.append(c)
        pooled.append(p)
    pooled_t = torch.cat(pooled) if all(p is not None for p in pooled) else None
    return _stack_conds(conds), pooled_t


def _conditioning(cond, pooled, extra: dict) -> list:
    d = dict(extra)
    if pooled is not None:
        d["pooled_output"] = pooled
    return [[cond, d]]


def _sub_batch(model, count: int, latent_shape: tuple[int, ...]) -> int:
    """How many images to sample at once so that their cond + uncond activations fit the free memory
    of the compute device (after the model's weights, when they are not loaded yet)."""
    device = model.load_device
    if device.type == "cpu":
        return count
    per_image = model.memory_required([2, *latent_shape[1:]])
    free = mm.get_free_memory(device)
    if not any(m.model is model.model for m in mm.loaded_models()):
        free -= model.model_size()
    return max(1, min(count, int(0.8 * free // max(per_image, 1))))


def sample_batch(
    work,
    clip,
    vae,
    prompts,
    plan: SamplingPlan,
    extra_pos: dict,
    extra_neg: dict,
    latent_in=None,
    keep=None,
    framed=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``prompts`` (one per image: ``.positive``, ``.negative``, ``.seed``) on the patched model
    ``work``; ``extra_pos``/``extra_neg`` go into the conditionings (ControlNet, identity tokens).
    With ``latent_in`` (the framed selfie encoded) and ``keep [H,W]`` (1 = keep the selfie), the kept
    region is never resampled and the decoded image is composited over ``framed [H,W,3]``.
    Returns (images ``[B,H,W,3]``, latents)."""
    batch_size = len(prompts)
    width, height = plan.width, plan.height
    latent_shape = (1, 4, height // 8, width // 8)
    empty = comfy.sample.fix_empty_latent_channels(work, torch.zeros(latent_shape))
    per = _sub_batch(work, batch_size, tuple(empty.shape))
    chunks = [list(range(i, min(i + per, batch_size))) for i in range(0, batch_size, per)]
    total = plan.steps * len(chunks)
    bar = comfy.utils.ProgressBar(total)
    previewer = latent_preview.get_previewer(work.load_device, work.model.latent_format)
    cache: dict = {}
    images, latents = [], []
    for c_i, idx in enumerate(chunks):
        runtime.check_interrupt()
        group = [prompts[i] for i in idx]
        pos, pos_pooled = _encode(clip, [p.positive for p in group], cache)
        neg, neg_pooled = _encode(clip, [p.negative for p in group], cache)
        base = empty if latent_in is None else latent_in
        base = base.expand(len(idx), -1, -1, -1).contiguous()
        noise = torch.cat([comfy.sample.prepare_noise(base[:1], p.seed) for p in group])
        mask = None if keep is None else (1.0 - keep)[None, None].expand(len(idx), -1, -1, -1).contiguous()
        offset = c_i * plan.steps

        def callback(step, x0, x, total_steps, offset=offset):
            preview = previewer.decode_latent_to_preview_image("JPEG", x0) if previewer else None
            bar.update_absolute(offset + step + 1, total, preview)

        samples = comfy.sample.sample(
            work,
            noise,
            plan.steps,
            plan.cfg,
            plan.sampler_name,
            plan.scheduler,
            _conditioning(pos, pos_pooled, extra_pos),
            _conditioning(neg, neg_pooled, extra_neg),
            base,
            denoise=1.0,
            noise_mask=mask,
            callback=callback,
            disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
            seed=group[0].seed,
        )
        latents.append(samples.cpu())
        decoded = vae.decode(samples)
        decoded = decoded.reshape(-1, *decoded.shape[-3:])[..., :3].detach().float().cpu().clamp(0, 1)
        if keep is not None and framed is not None:
            decoded = composite(decoded, framed, keep)
        images.append(decoded)
    return torch.cat(images), torch.cat(latents)
