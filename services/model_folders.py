"""The model folders PortraitOS adds to ComfyUI's (``models/<name>``), registered once so that
``extra_model_paths.yaml`` can add more places for each."""

from __future__ import annotations

import os

import folder_paths

FOLDERS = ("depth", "depthanything", "identities", "insightface", "instantid", "ipadapter")


def register_model_folders() -> None:
    for name in FOLDERS:
        if name not in folder_paths.folder_names_and_paths:
            folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name))


register_model_folders()
