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


CONTROLNET_ACTIVATION_SHARE = 0.5  # a ControlNet runs the UNet's encoder and middle: about half its activations
HEADROOM = 0.8  # of the free memory left after the weights


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes the sampler will hold on the compute device: ``weights`` not loaded there yet (UNet,
    IdentityNet, adapter, LoRA weight patches), ``per_image`` activations (UNet at ComfyUI's own estimate,
    ×2 with CFG for the uncond pass; plus each ControlNet's), the latents and noise of one image, and the
    ``free`` memory ComfyUI reports."""

    weights: int
    per_image: int
    free: int

    def images_at_once(self, count: int) -> int:
        """How many of ``count`` images to sample together (at least one)."""
        room = HEADROOM * (self.free - self.weights)
        return max(1, min(count, int(room // max(self.per_image, 1))))


def _loaded(patcher) -> bool:
    return any(m.model is patcher.model for m in mm.loaded_models())


def plan_memory(
    model, latent_shape: tuple[int, ...], cfg: float, controls=(), lora_bytes: int = 0, device=None
) -> MemoryPlan:
    """The :class:`MemoryPlan` of sampling ``latent_shape`` ``[1,C,h,w]`` latents on the patched ``model``
    with ``controls`` (ControlNets on the conditioning) at ``cfg`` (1.0: ComfyUI skips the uncond pass)."""
    device = device or model.load_device
    copies = 1 if cfg == 1.0 else 2
    unet = model.memory_required([copies, *latent_shape[1:]])
    per_image = unet + len(controls) * int(CONTROLNET_ACTIVATION_SHARE * unet)
    per_image += 3 * math.prod(latent_shape) * 4  # latent, noise, denoised (float32)
    weights = 0 if _loaded(model) else model.model_size()
    others = list(model.get_nested_additional_models())
    for c in controls:
        others += c.get_models()
    seen: set[int] = set()
    for m in others:
        if id(m.model) in seen or _loaded(m):
            continue
        seen.add(id(m.model))
        weights += m.model_size()
    weights += lora_bytes
    return MemoryPlan(int(weights), int(per_image), int(mm.get_free_memory(device)))


def _sub_batch(model, count: int, latent_shape: tuple[int, ...], cfg: float = 2.0, controls=(), lora_bytes=0) -> int:
    """How many images to sample at once (all of them on the CPU, where memory is not the limit)."""
    if model.load_device.type == "cpu":
        return count
    return plan_memory(model, latent_shape, cfg, controls, lora_bytes).images_at_once(count)


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
    controls=(),
    lora_bytes: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``prompts`` (one per image: ``.positive``, ``.negative``, ``.seed``) on the patched model
    ``work``; ``extra_pos``/``extra_neg`` go into the conditionings (ControlNet, identity tokens).
    With ``latent_in`` (the framed selfie encoded) and ``keep [H,W]`` (1 = keep the selfie), the kept
    region is never resampled and the decoded image is composited over ``framed [H,W,3]``. ``controls``
    and ``lora_bytes`` (ControlNets and LoRA patches the sampler holds) enter the memory plan.
    Returns (images ``[B,H,W,3]``, latents)."""
    batch_size = len(prompts)
    width, height = plan.width, plan.height
    latent_shape = (1, 4, height // 8, width // 8)
    empty = comfy.sample.fix_empty_latent_channels(work, torch.zeros(latent_shape))
    per = _sub_batch(work, batch_size, tuple(empty.shape), plan.cfg, controls, lora_bytes)
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
