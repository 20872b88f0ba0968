"""The one cache of loaded models (depth networks, face packs, identity adapters), shared by the nodes.

Entries are grouped by kind, keyed within it, and carry the version of what they were loaded from (a
file's modification time and size): a changed file is loaded again, never served stale. A kind may
keep only its ``keep`` most recently used entries (one depth network at a time: they are large).
Loading happens under the cache's lock, so two prompts never load the same model twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._kinds: dict[str, OrderedDict[Hashable, tuple[Hashable, Any]]] = {}

    def get(
        self, kind: str, key: Hashable, load: Callable[[], T], version: Hashable = None, keep: int | None = None
    ) -> T:
        """The cached value of ``(kind, key)`` at ``version``, else ``load()``'s (then cached)."""
        with self._lock:
            entries = self._kinds.setdefault(kind, OrderedDict())
            hit = entries.get(key)
            if hit is not None and hit[0] == version:
                entries.move_to_end(key)
                return hit[1]
            entries.pop(key, None)
            if keep is not None:
                while len(entries) >= max(keep, 1):
                    entries.popitem(last=False)
            value = load()
            entries[key] = (version, value)
            return value

    def peek(self, kind: str, key: Hashable) -> Any:
        """The cached value (any version), or None; loads nothing."""
        with self._lock:
            entries = self._kinds.get(kind)
            hit = None if entries is None else entries.get(key)
            return None if hit is None else hit[1]

    def discard(self, kind: str, key: Hashable, value: Any = None) -> None:
        """Drop ``(kind, key)`` (only while it still holds ``value``, when given): what a model that
        ComfyUI's model management unloaded calls, so the cache does not keep it alive."""
        with self._lock:
            entries = self._kinds.get(kind)
            hit = None if entries is None else entries.get(key)
            if hit is not None and (value is None or hit[1] is value):
                del entries[key]  # type: ignore[union-attr]

    def keys(self, kind: str) -> list[Hashable]:
        with self._lock:
            entries = self._kinds.get(kind)
            return [] if entries is None else list(entries)

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            if kind is None:
                self._kinds.clear()
            else:
                self._kinds.pop(kind, None)


CACHE = ModelCache()
