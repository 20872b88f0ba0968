"""Messages that said the wrong thing or too much: a NUL in a name is called a NUL, a long thin strip's
IdentityScore line says why it has no face, a folder or FIFO is not "missing", a refused model file never
repeats torch's advice to unpickle it, refusals do not show the server's identities folder."""

from __future__ import annotations

import datetime
import os
import pickle

import numpy as np
import pytest
import torch

from portraitos.engine.core.safe_paths import PathNotFoundError, resolve_inside
from portraitos.engine.identity.file_format import IdentityError, sanitize_name
from portraitos.engine.identity.scoring import largest_face_embedding, rank


def test_a_nul_in_an_identity_name_is_called_a_nul():
    with pytest.raises(IdentityError) as e:
        sanitize_name("anna\x00")
    assert "NUL" in str(e.value) and "separator" not in str(e.value)
    with pytest.raises(IdentityError, match="path separators"):
        sanitize_name("a/b")


def test_identity_score_says_why_a_strip_has_no_face():
    why: list[str] = []
    strip = np.zeros((32, 2048, 3), np.uint8)
    assert largest_face_embedding(None, strip, why) is None  # refused before any detector runs
    assert "2048×32" in why[0] and "too long and thin" in why[0]
    r = rank(torch.tensor([0.8, float("nan"), float("nan")]), 0.4, ["", why[0], "no face found"])
    assert r.lines[0] == "#1: 0.800"
    assert r.lines[1].startswith("#2: no face (the photo is 2048×32 px: too long and thin") and "(failed)" in r.lines[1]
    assert r.lines[2] == "#3: no face (failed)"


def test_a_folder_or_fifo_is_not_called_missing(tmp_path):
    (tmp_path / "depth.npy").mkdir()
    os.mkfifo(tmp_path / "pipe.npy")
    with pytest.raises(PathNotFoundError) as e:
        resolve_inside(tmp_path, "depth.npy", "depth file")
    assert "is a folder, not a file" in str(e.value)
    with pytest.raises(PathNotFoundError) as e:
        resolve_inside(tmp_path, "pipe.npy", "depth file")
    assert "is a FIFO (named pipe), not a file" in str(e.value)
    with pytest.raises(PathNotFoundError, match="no such file"):
        resolve_inside(tmp_path, "gone.npy", "depth file")


def test_a_refused_pickle_never_advises_weights_only_false(comfy_nodes, tmp_path):
    from portraitos.services import identity_adapters as ia
    from portraitos.services.load_errors import load_error_text

    path = tmp_path / "ip-adapter-faceid_sd15.bin"
    with open(path, "wb") as f:
        pickle.dump({"image_proj": {"w": datetime.datetime(2020, 1, 1)}}, f)  # a global beyond plain weights
    with pytest.raises(ValueError) as e:
        ia._load_adapter(path)
    text = str(e.value)
    assert "weights_only" not in text and "arbitrary code" not in text, text
    assert "never loaded" in text and "ip-adapter-faceid_sd15.bin" in text and "\n" not in text, text
    assert load_error_text(OSError("disk gone\nmore")) == "OSError: disk gone"


def test_identity_refusals_do_not_show_the_servers_folder(comfy_nodes):
    cls = comfy_nodes.NODE_CLASS_MAPPINGS["IdentityLoader"]
    import folder_paths

    folder = folder_paths.get_folder_paths("identities")[0]
    try:
        msg = cls.validate_inputs(mode="load", stored_identity="nobody-here")
    except Exception as e:  # raised (reported once on the node) or returned: the same text reaches the client
        msg = str(e)
    assert isinstance(msg, str) and "nobody-here" in msg and "models/identities" in msg, msg
    assert folder not in msg, msg
