"""PortraitOS for ComfyUI: optical lens bokeh, metric depth and lighting for portraits.

ComfyUI loads this file; nodes are registered through the V3 entry point below (no
NODE_CLASS_MAPPINGS, which would make ComfyUI ignore the entry point).

Layout: ``engine/`` is plain torch (no ComfyUI), ``nodes/`` thin ComfyUI adapters over it,
``validation/`` the reference renderer and metrics used by tests and benchmarks (not by the nodes).
The pack is importable as ``portraitos`` wherever it lives: ComfyUI names a custom node's module after
its folder path, so the package registers itself under that one stable name, and ComfyUI, tests and
benchmarks all reach the same ``portraitos.engine`` (one class per type in a process). A second copy
of the pack in another folder is refused with an ImportError naming both folders.
"""

import os
import sys


def _folder(module) -> str:
    """The real folder a module was loaded from (links resolved), or its repr when it has none."""
    where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", None) or []), None)
    if where is None:
        return repr(module)
    return os.path.realpath(os.path.dirname(where) if os.path.isfile(where) else where)


def _claim_import_name() -> None:
    """Register this folder as ``portraitos``, or refuse when another folder holds that name already: two
    checkouts of the pack in one process would share the first one's engine without a word."""
    first = sys.modules.setdefault("portraitos", sys.modules[__name__])
    here = _folder(sys.modules[__name__])
    if first is not sys.modules[__name__] and _folder(first) != here:
        raise ImportError(
            f"PortraitOS is installed twice: {here} cannot load because the import name 'portraitos' already "
            f"belongs to {_folder(first)}. One Python process holds one copy of the pack; with both, this one "
            "would silently run the other's engine. Remove or disable one of the two folders (in ComfyUI's "
            "custom_nodes, or ComfyUI-Manager's 'disable'); in a development checkout, `bash scripts/provision.sh` "
            "in the one you mean to use links that one as the venv's 'portraitos'."
        )


_claim_import_name()

WEB_DIRECTORY = "./js"


async def comfy_entrypoint():
    # absolute: whoever imported the pack first (ComfyUI under its folder's name, or a test under
    # ``portraitos``), every submodule exists once, as ``portraitos.…``
    from portraitos.nodes import NODES, PortraitOSExtension
    from portraitos.services import batch_uploads, prompt_values
    from portraitos.services.lens_panel import register_routes
    from portraitos.services.sample_inputs import install_samples

    register_routes()  # the lens panel's profile discs
    batch_uploads.register_routes()  # batch workers remove their pictures after each job
    install_samples()  # the shipped workflows' sample photo, loadable by LoadImage
    # "false" sent as text by a headless client means False (ComfyUI would read it as True)
    prompt_values.install({cls.GET_SCHEMA().node_id: cls for cls in NODES})
    return PortraitOSExtension()
