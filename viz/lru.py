"""A small least-recently-used memo: the viewer renderer keeps each stage's results in one."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class LruCache:
    """``get(key, compute)``: the value cached for ``key``, or ``compute()`` kept for next time; the
    least recently used value goes when more than ``capacity`` are held."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = compute()
        self.items[key] = value
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)
        return value

    def peek(self, key: Hashable) -> Any:
        """The cached value or None, without computing or reordering (safe to call from another thread)."""
        return self.items.get(key)

    def clear(self) -> None:
        self.items.clear()
