"""A small bounded in-process map for data-plane snapshots (principals, catalog views)."""
from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


_every_memo: weakref.WeakSet[BoundedMemo] = weakref.WeakSet()


class BoundedMemo(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._max = max_entries
        _every_memo.add(self)

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def memos_clear() -> None:
    """Forget every memo of this process. Keys hold the catalog version, which only grows in production; tests start
    each database over, so they call this between tests."""
    for memo in list(_every_memo):
        memo.clear()
