"""Small, widget-free helpers shared by the core, the paper modules and the widgets: an LRU cache with
hit/miss counts and a wall-clock timer."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable, TypeVar

__all__ = ["LRUCache", "Timer"]

T = TypeVar("T")

_MISSING = object()


class LRUCache:
    """A small least-recently-used cache for expensive computations.

    ``get_or_compute(key, fn)`` returns the cached value for ``key`` (a hit)
    or calls ``fn()``, stores and returns its result (a miss); when more than
    ``maxsize`` entries are held the least recently used one is evicted.  If
    ``fn()`` raises nothing is stored.  Keys are hashables built by the caller,
    e.g. ``(image_index, method, target, layer)``.  ``in`` does not count as a
    hit nor refresh recency.
    """

    def __init__(self, maxsize: int = 64):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an integer >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get_or_compute(self, key: Hashable, fn: Callable[[], T]) -> T:
        try:
            hash(key)
        except TypeError:
            raise TypeError(f"key must be hashable, got {type(key).__name__}") from None
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is not _MISSING:
                self._data.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = fn()  # outside the lock: fn may be slow or use the cache itself
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
                self.evictions += 1
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Cached value or ``default``; counts a hit (and refreshes recency) when found."""
        with self._lock:
            value = self._data.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def clear(self) -> None:
        """Drop all entries (the hit/miss counters are kept; see :meth:`reset_stats`)."""
        with self._lock:
            self._data.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.hits = self.misses = self.evictions = 0

    def keys(self) -> list[Hashable]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._data.keys())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return (
            f"LRUCache(maxsize={self.maxsize}, size={len(self)}, "
            f"hits={self.hits}, misses={self.misses})"
        )


class Timer:
    """Context manager measuring wall time: ``with Timer() as t: ...; t.ms``."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.elapsed = 0.0

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.start is not None
        self.elapsed = time.perf_counter() - self.start

    @property
    def ms(self) -> float:
        return self.elapsed * 1000.0
