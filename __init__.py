"""PortraitOS for ComfyUI: optical lens bokeh, metric depth and lighting for portraits.

ComfyUI loads this file; nodes are registered through the V3 entry point below (no
NODE_CLASS_MAPPINGS, which would make ComfyUI ignore the entry point).

Layout: ``engine/`` is plain torch (no ComfyUI), ``nodes/`` thin ComfyUI adapters over it,
``validation/`` the reference renderer and metrics used by tests and benchmarks (not by the nodes).
The pack is importable as ``portraitos`` wherever it lives: ComfyUI names a custom node's module after
its folder path, so the package registers itself under that one stable name, and ComfyUI, tests and
benchmarks all reach the same ``portraitos.engine`` (one class per type in a process).
"""

import sys

sys.modules.setdefault("portraitos", sys.modules[__name__])

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
