"""Real-ESRGAN x4plus from its ncnn files (``.param`` text graph + ``.bin`` weights) to the PyTorch state
dict of the RRDBNet it was exported from, the layout ``RealESRGAN_x4plus.pth`` has and ComfyUI's
UpscaleModelLoader (spandrel) recognises.

ncnn's ``.param``: a magic line ``7767517``, then ``layer_count blob_count``, then one line per layer:
``type name n_in n_out in_blobs... out_blobs... key=value...`` (a negative key ``-233xx=n,v1,...,vn`` is an
array for key ``xx``). Convolution's keys: 0 output channels, 1 kernel size, 5 bias present, 6 weight count,
9 activation (2 = leaky ReLU, its slope in array 10). Its ``.bin`` holds, per Convolution in the order of the
``.param``, the weights as a 4-byte storage tag (0 = float32, 0x01306B47 = float16) and the
``[out, in, k, k]`` values (padded to 4 bytes), then the bias as plain float32.

The network (ESRGAN's RRDBNet, 64 features, 23 blocks, 32 growth channels): ``conv_first``; 23 blocks of
three dense blocks of five convolutions each (``body.{i}.rdb{j}.conv{k}``; conv k takes 64 + 32·(k−1)
channels, convs 1–4 give 32 with leaky ReLU, conv 5 gives 64 without); ``conv_body``; two ×2 nearest
upsamplings each followed by ``conv_up1`` / ``conv_up2``; ``conv_hr``; ``conv_last`` (3 channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FP16_TAG = 0x01306B47
FP32_TAG = 0
FEATURES, GROWTH, BLOCKS = 64, 32, 23


class NcnnFormatError(ValueError):
    """The ``.param`` / ``.bin`` pair is not the RRDBNet x4 network this converter expects."""


def parse_param(text: str) -> list[dict]:
    """The layers of an ncnn ``.param`` text: ``{type, name, inputs, outputs, params}`` each; array values
    as lists of floats, others as int or float."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != "7767517":
        raise NcnnFormatError("not an ncnn .param file (the first line is not 7767517)")
    layers = []
    for ln in lines[2:]:
        parts = ln.split()
        kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
        ins, outs = parts[4 : 4 + n_in], parts[4 + n_in : 4 + n_in + n_out]
        params: dict[int, object] = {}
        for kv in parts[4 + n_in + n_out :]:
            k, v = kv.split("=", 1)
            key = int(k)
            if key <= -23300:  # array: count, values
                vals = v.split(",")
                params[-key - 23300] = [float(x) for x in vals[1 : 1 + int(vals[0])]]
            else:
                params[key] = float(v) if ("." in v or "e" in v) else int(v)
        layers.append({"type": kind, "name": name, "inputs": ins, "outputs": outs, "params": params})
    return layers


def read_convolutions(param_text: str, weights: bytes) -> list[dict]:
    """Each Convolution of the graph, in order: ``{name, weight [out,in,k,k] float32, bias [out] or None,
    leaky (slope or None), inputs, outputs}``, read from the ``.bin`` bytes; the whole file must be used."""
    convs = []
    offset = 0
    for layer in parse_param(param_text):
        if layer["type"] != "Convolution":
            continue
        p = layer["params"]
        out_ch, k, count = int(p[0]), int(p.get(1, 1)), int(p[6])
        in_ch = count // (out_ch * k * k)
        if in_ch * out_ch * k * k != count:
            raise NcnnFormatError(f"{layer['name']}: {count} weights do not fill {out_ch}×?×{k}×{k}")
        bias_bytes = out_ch * 4 if int(p.get(5, 0)) else 0
        tag = int.from_bytes(weights[offset : offset + 4], "little")
        need = offset + 4 + bias_bytes + ((count * 2 + 3) // 4 * 4 if tag == FP16_TAG else count * 4)
        if need > len(weights):
            raise NcnnFormatError(f"the .bin ends at byte {len(weights)}; {layer['name']} needs bytes up to {need}")
        offset += 4
        if tag == FP16_TAG:
            w = np.frombuffer(weights, np.float16, count, offset).astype(np.float32)
            offset += (count * 2 + 3) // 4 * 4
        elif tag == FP32_TAG:
            w = np.frombuffer(weights, np.float32, count, offset).copy()
            offset += count * 4
        else:
            raise NcnnFormatError(f"{layer['name']}: weight storage tag {tag:#x} (only float32 / float16 read)")
        bias = None
        if int(p.get(5, 0)):
            bias = np.frombuffer(weights, np.float32, out_ch, offset).copy()
            offset += out_ch * 4
        act = int(p.get(9, 0))
        leaky = None
        if act == 2:
            leaky = float(p.get(10, [0.0])[0])
        elif act != 0:
            raise NcnnFormatError(f"{layer['name']}: activation {act} is not RRDBNet's")
        convs.append(
            {
                "name": layer["name"],
                "weight": torch.from_numpy(w.reshape(out_ch, in_ch, k, k)),
                "bias": None if bias is None else torch.from_numpy(bias),
                "leaky": leaky,
                "inputs": layer["inputs"],
                "outputs": layer["outputs"],
            }
        )
    if offset != len(weights):
        raise NcnnFormatError(f"the .bin has {len(weights)} bytes; the graph's convolutions use {offset}")
    return convs


def rrdbnet_names(blocks: int = BLOCKS) -> list[tuple[str, int, int, bool]]:
    """RRDBNet's convolutions in execution order: (state-dict prefix, in channels, out channels, leaky)."""
    names = [("conv_first", 3, FEATURES, False)]
    for i in range(blocks):
        for j in (1, 2, 3):
            for k in range(1, 6):
                cin = FEATURES + GROWTH * (k - 1)
                names.append((f"body.{i}.rdb{j}.conv{k}", cin, GROWTH if k < 5 else FEATURES, k < 5))
    names += [
        ("conv_body", FEATURES, FEATURES, False),
        ("conv_up1", FEATURES, FEATURES, True),
        ("conv_up2", FEATURES, FEATURES, True),
        ("conv_hr", FEATURES, FEATURES, True),
        ("conv_last", FEATURES, 3, False),
    ]
    return names


def convert(param_path: Path, bin_path: Path) -> dict[str, torch.Tensor]:
    """The RRDBNet x4 state dict (``conv_first.weight`` … ``conv_last.bias``, float32) of an ncnn export;
    NcnnFormatError when the graph is not that network (count, channels or activations differ)."""
    text = Path(param_path).read_text()
    layers = parse_param(text)
    kinds = [layer["type"] for layer in layers]
    if kinds.count("Interp") != 2:
        raise NcnnFormatError(f"{kinds.count('Interp')} upsampling layers; RRDBNet ×4 has 2")
    convs = read_convolutions(text, Path(bin_path).read_bytes())
    names = rrdbnet_names()
    if len(convs) != len(names):
        raise NcnnFormatError(f"{len(convs)} convolutions; RRDBNet with {BLOCKS} blocks has {len(names)}")
    sd: dict[str, torch.Tensor] = {}
    for conv, (prefix, cin, cout, leaky) in zip(convs, names):
        w = conv["weight"]
        if tuple(w.shape) != (cout, cin, 3, 3):
            raise NcnnFormatError(f"{conv['name']} is {tuple(w.shape)}; {prefix} is ({cout}, {cin}, 3, 3)")
        if (conv["leaky"] is not None) != leaky or (leaky and abs(conv["leaky"] - 0.2) > 1e-6):
            raise NcnnFormatError(f"{conv['name']}: activation {conv['leaky']} where {prefix} has leaky={leaky}")
        if conv["bias"] is None:
            raise NcnnFormatError(f"{conv['name']} has no bias; {prefix} has one")
        sd[f"{prefix}.weight"] = w.contiguous()
        sd[f"{prefix}.bias"] = conv["bias"].contiguous()
    # the two upsamplings sit right before conv_up1 and conv_up2
    interp_out = {layer["outputs"][0] for layer in layers if layer["type"] == "Interp"}
    for conv in convs[-4:-2]:
        if conv["inputs"][0] not in interp_out:
            raise NcnnFormatError(f"{conv['name']} does not follow an upsampling")
    return sd
