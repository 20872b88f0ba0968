"""Batches of headless jobs over many ComfyUI servers, on Celery with a Redis broker.

- :mod:`.manifest`: the JSON Lines manifest (one job a line: id, workflow, images, set)
- :mod:`.job`: one job on one server (standard library: the run, the atomic output folder)
- :mod:`.tasks`: the Celery app, its task and the worker's server watch
- :mod:`.worker`: ``python -m portraitos.headless.batch.worker --server URL --broker URL``
- :mod:`.run`: ``python -m portraitos.headless.batch.run MANIFEST --broker URL --out DIR``
- :mod:`.local`: ``python -m portraitos.headless.batch.local --servers N MANIFEST --out DIR`` (all on this machine)

Only this package imports celery and redis (``headless/batch/requirements.txt``); the node pack does not.
"""
