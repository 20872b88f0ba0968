"""The real-model tier: real networks from PyPI (:mod:`portraitos.testing.real_models`), laid out as a
user's ComfyUI has them and registered with the ComfyUI these tests load."""

from __future__ import annotations

from pathlib import Path

import pytest

from portraitos.testing import real_models


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The built ``.real-models/`` folder (fetched and built on first use; ``scripts/test.sh`` builds it
    first). A failed download or checksum fails the tier with the reason: it never skips."""
    try:
        return real_models.build()
    except real_models.RealModelsError as e:
        pytest.fail(f"the real-model tier could not fetch its networks: {e}")


@pytest.fixture(scope="session")
def real_comfy(comfy_nodes, real_root, tmp_path_factory):
    """ComfyUI's ``nodes`` with this pack loaded in-process, ComfyUI's ``insightface`` and ``upscale_models``
    folders given the real models, and an empty ``identities`` folder (all restored afterwards)."""
    import folder_paths

    identities = tmp_path_factory.mktemp("real_identities")
    keys = ("insightface", "upscale_models", "identities")
    saved = {k: list(folder_paths.folder_names_and_paths[k][0]) for k in keys}
    folder_paths.add_model_folder_path("insightface", str(real_root / "models" / "insightface"), is_default=True)
    folder_paths.add_model_folder_path("upscale_models", str(real_root / "models" / "upscale_models"))
    folder_paths.add_model_folder_path("identities", str(identities), is_default=True)
    try:
        yield comfy_nodes
    finally:  # the folders as they were, for whatever runs after this tier in the same process
        for k, paths in saved.items():
            folder_paths.folder_names_and_paths[k][0][:] = paths


@pytest.fixture(scope="session")
def photos(real_root) -> dict:
    """The scrfd sdist's public-domain photos as uint8 RGB ``[H,W,3]`` arrays."""
    import numpy as np
    from PIL import Image

    names = {"newton": "newton.png", "gauss": "gauss.png", "solvay": "solvay_conference_1927.jpg"}
    return {k: np.array(Image.open(real_root / "photos" / v).convert("RGB")) for k, v in names.items()}
