"""One pattern, one set of facts: structure caches keyed by the index arrays themselves.

Every CSRArray over the same ``indices`` and ``indptr`` objects (and shape) shares one cache
of what is known of its pattern (checked, sorted, row lengths, the transposed structure,
product patterns), however it was built: ``A.with_data(v)``, ``csr_array((v, idx, ptr))``
in a loss, a pickle round trip of the arrays. An entry is dropped when either array is
freed, so the facts live exactly as long as the pattern.

Index arrays given to the constructors keep their identity the same way: a numpy array (matched
by identity, then by content, since numpy arrays change in place) is copied to MLX once, and
an index array cast to another index dtype is cast once, so ``csr_array((v, idx, ptr))`` in a
loop finds its pattern's facts whatever idx and ptr are.
"""

from __future__ import annotations

import weakref

import mlx.core as mx
import numpy as np

_CACHES: dict[tuple, dict] = {}
_DERIVED: dict[tuple, tuple] = {}


def pattern_cache(indices: mx.array, indptr: mx.array, shape: tuple) -> dict:
    """The structure cache of the pattern (indices, indptr, shape), made on first use."""
    key = (id(indices), id(indptr), shape)
    cache = _CACHES.get(key)
    if cache is None:
        cache = _CACHES[key] = {}
        for a in (indices, indptr):
            weakref.finalize(a, _CACHES.pop, key, None)
    return cache


def derived(src, tag, make, same=None):
    """``make()``, made once per (src, tag) while src lives (and, for a numpy src, which can
    change in place, while ``same(out)`` confirms it still matches)."""
    key = (id(src), tag)
    found = _DERIVED.get(key)
    if found is not None and found[0]() is src and (same is None or same(found[1])):
        return found[1]
    out = make()
    try:
        ref = weakref.ref(src, lambda _, key=key: _DERIVED.pop(key, None))
    except TypeError:  # no weak references to it (a list, a scalar): nothing to reuse
        return out
    _DERIVED[key] = (ref, out)
    return out
