"""The headless client: run a shipped (or any) workflow on a ComfyUI server over its HTTP API.

Standard library only, so it runs on machines without torch or ComfyUI:
``python -m portraitos.headless.run_workflow ...`` or ``python headless/run_workflow.py ...``.
"""
