"""The pack's own overhead per generated image against ComfyUI's stock sampling path, on the same tiny model,
as ratios measured in one process (ComfyUI in-process, this pack loaded through ComfyUI's loader).

    PYTHONPATH=<dir holding portraitos> COMFYUI_DIR=<ComfyUI> .venv/bin/python benchmarks/bench_generation_overhead.py \
        [--family sd15|sdxl] [--images 1 4] [--steps 4] [--size 64] [--repeat 7] [--threads 1]

Both sides generate the same images (same identity, prompts, seeds, steps, sampler; the largest pixel
difference between them is printed, so a side that did less work would show):

* **stock**: PortraitIdentityApply once, then per image CLIPTextEncode ×2 (with what the apply node added to
  the conditioning), EmptyLatentImage, KSampler and VAEDecode (what a user wires without PortraitGenerate);
* **PortraitGenerate**: one node, batch of ``--images``.

The two sides alternate (stock, pack, pack, stock, ...), so load from other processes on the machine falls
on both alike. Reported per batch size: the seconds per image of each (fastest run: noise only ever adds
time) and their ratio (PortraitGenerate ÷ stock), with the median of the paired runs' ratios, plus the
same with identity_strength 0 (no identity: PortraitGenerate against bare KSampler). The goal for the
pack's overhead is a ratio ≤ 1.05. A batch of 1 is the pure overhead (no batching on either side);
larger batches add what sampling several images in one call saves. Tiny models make the sampling
itself cheap, so the ratio here is an upper bound on the overhead's share on real models. CPU only
(ComfyUI is started with ``--cpu``), ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=("sd15", "sdxl"), default="sd15")
    ap.add_argument("--images", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="print where each side's time goes (batch 1), then stop")
    ap.add_argument("--profile-strength", type=float, default=0.8, help="identity_strength of the profiled runs")
    opts = ap.parse_args()

    import torch

    torch.set_num_threads(opts.threads)

    from skimage import data

    from portraitos.testing.comfy_host import load_in_process

    tmp = Path(tempfile.mkdtemp(prefix="bench_generation_"))
    n = load_in_process(tmp / "in", tmp / "out")
    import folder_paths

    from portraitos.engine.faces import analyse, load_pack
    from portraitos.engine.generation import build_prompts
    from portraitos.engine.identity import build_identity
    from portraitos.services import identity_adapters  # noqa: F401  (registers the adapter folders)
    from portraitos.testing import tiny_diffusion_models as tdm
    from portraitos.testing.comfy_host import run_node
    from portraitos.testing.tiny_face_models import build_pack

    for name in ("checkpoints", "ipadapter", "instantid", "controlnet", "loras"):
        (tmp / name).mkdir()
        folder_paths.folder_names_and_paths[name] = ([str(tmp / name)], folder_paths.folder_names_and_paths[name][1])
    tdm.register()
    tdm.build_checkpoint(tmp / "checkpoints" / "tiny.safetensors", opts.family)
    model, clip, vae = n.CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")[:3]
    if opts.family == "sd15":
        method, pack = "IP-Adapter FaceID", "buffalo_l"
        tdm.save_bin(tdm.faceid_state_dict("sd15"), tmp / "ipadapter" / "ip-adapter-faceid_sd15.bin")
    else:
        method, pack = "InstantID", "antelopev2"
        tdm.save_bin(tdm.instantid_state_dict(), tmp / "instantid" / "ip-adapter.bin")
        tdm.build_diffusers_identitynet(tmp / "controlnet" / "diffusion_pytorch_model.safetensors")
    build_pack(tmp / "faces", pack)
    rec, warn, _ = analyse(load_pack(tmp / "faces", pack), data.astronaut())
    identity = build_identity("bench", [rec], pack, warn)
    size, steps = opts.size, opts.steps
    cfg, sampler, scheduler = 4.0, "euler", "normal"
    generate = n.NODE_CLASS_MAPPINGS["PortraitGenerate"]
    apply = n.NODE_CLASS_MAPPINGS["PortraitIdentityApply"]

    def stock(strength: float, count: int):
        prompts = build_prompts("studio headshot", count, 7, fixed_pose=method == "InstantID")
        empty = n.CLIPTextEncode().encode(clip, "")[0]
        patched, pos0, neg0 = run_node(
            apply,
            model=model,
            positive=empty,
            negative=empty,
            identity=identity,
            method=method,
            identity_strength=strength,
            adapter_file="auto",
            controlnet_file="auto",
            controlnet_strength=0.8,
            lora_strength=0.6,
            width=size,
            height=size,
            vae=vae,
        ).args
        # what the apply node added to the conditioning (InstantID: IdentityNet and the face tokens), merged
        # into each image's own prompt as a plain dict update
        extra_pos = {k: v for k, v in pos0[0][1].items() if k != "pooled_output"}
        extra_neg = {k: v for k, v in neg0[0][1].items() if k != "pooled_output"}
        images = []
        for p in prompts:
            pos = [[t, {**d, **extra_pos}] for t, d in n.CLIPTextEncode().encode(clip, p.positive)[0]]
            neg = [[t, {**d, **extra_neg}] for t, d in n.CLIPTextEncode().encode(clip, p.negative)[0]]
            latent = n.EmptyLatentImage().generate(size, size, 1)[0]
            out = n.KSampler().sample(patched, p.seed, steps, cfg, sampler, scheduler, pos, neg, latent)[0]
            images.append(n.VAEDecode().decode(vae, out)[0])
        return torch.cat(images)

    def pack_node(strength: float, count: int):
        return run_node(
            generate,
            model=model,
            clip=clip,
            vae=vae,
            identity=identity,
            method=method,
            style="studio headshot",
            prompt="",
            negative="",
            identity_strength=strength,
            seed=7,
            steps=steps,
            cfg=cfg,
            sampler_name=sampler,
            scheduler=scheduler,
            width=size,
            height=size,
            batch_size=count,
            use_age_gender=False,
            adapter_file="auto",
            controlnet_file="auto",
            controlnet_strength=0.8,
            lora_strength=0.6,
        ).args[0]

    def timed(fn, strength: float, count: int) -> tuple[float, torch.Tensor]:
        with torch.inference_mode():  # as ComfyUI's executor runs every node
            t0 = time.perf_counter()
            images = fn(strength, count)
            return (time.perf_counter() - t0) / count, images

    timed(stock, 0.8, 1)  # warm-up: file loads and caches, both sides
    timed(pack_node, 0.8, 1)
    if opts.profile:
        import cProfile
        import pstats

        for fn in (stock, pack_node):
            prof = cProfile.Profile()
            prof.runcall(lambda fn=fn: [timed(fn, opts.profile_strength, 1) for _ in range(opts.repeat)])
            print(f"--- {fn.__name__}, batch 1, identity_strength {opts.profile_strength}, {opts.repeat} runs")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        return
    print(
        f"{opts.family}, {method}, {size}×{size}, {steps} steps, {opts.repeat} alternating runs per side, "
        f"{opts.threads} thread(s)"
    )
    for count in opts.images:
        for strength in (0.8, 0.0):
            s_runs, g_runs, ratios = [], [], []
            for r in range(opts.repeat):
                order = (stock, pack_node) if r % 2 == 0 else (pack_node, stock)
                got = {fn: timed(fn, strength, count) for fn in order}
                (s, s_img), (g, g_img) = got[stock], got[pack_node]
                s_runs.append(s)
                g_runs.append(g)
                ratios.append(g / s)
            diff = float((s_img - g_img).abs().max())
            print(
                f"batch {count}, identity_strength {strength}: stock {min(s_runs) * 1000:.1f} ms/image, "
                f"PortraitGenerate {min(g_runs) * 1000:.1f} ms/image (fastest runs), ratio "
                f"{min(g_runs) / min(s_runs):.3f}; median of paired ratios {statistics.median(ratios):.3f} "
                f"(range {min(ratios):.3f}–{max(ratios):.3f}); largest pixel difference {diff:.1e}"
            )
    tdm.unregister()


if __name__ == "__main__":
    main()
