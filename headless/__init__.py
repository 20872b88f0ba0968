"""Running the pack's workflows without the editor, over ComfyUI's HTTP API.

- :mod:`.run_workflow`: the client, ``python -m portraitos.headless.run_workflow ...`` or
  ``python headless/run_workflow.py ...``; standard library only (``websocket-client`` when present), so
  it runs on machines without torch or ComfyUI.
- :mod:`.server`: the one launcher, a ComfyUI server subprocess with this pack on 127.0.0.1 (standard
  library only); the demo, the local batch, the tests, the benchmarks and the tools start ComfyUI with it.
- :mod:`.batch`: many jobs over many servers, on Celery with a Redis broker (``headless/batch/requirements.txt``).

Nothing here imports torch or ComfyUI.
"""
