"""Validation, not product: the exact thin-lens ray tracer, peer baselines, quality metrics and the
benchmark scenes. Used by ``tests/`` and ``benchmarks/``; nothing in ``engine/`` or ``nodes/`` imports it."""
