"""One pattern, one set of facts (mlx_sparse/_pattern.py): every CSRArray over the same index
arrays shares its structure cache however it was built, and the cache goes with the arrays."""

from __future__ import annotations

import gc

import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms
from mlx_sparse import _pattern
from conftest import assert_close


def _scipy(seed=0, n=30):
    return sp.random_array((n, n), density=0.2, format="csr", dtype=np.float32,
                           rng=np.random.default_rng(seed))


def test_arrays_built_from_the_same_index_arrays_share_their_facts():
    S = _scipy()
    A = ms.csr_array(S)
    v = A.data * 2
    B = ms.csr_array((v, A.indices, A.indptr), shape=A.shape)
    assert B._cache is A._cache and A.with_data(v)._cache is A._cache
    A.T @ mx.ones((30, 2))  # the facts found through A ...
    assert "valid" in B._cache  # ... are B's without a second check
    assert_close(B @ mx.ones((30,)), (2 * S) @ np.ones(30))
    # another shape is another pattern
    C = ms.csr_array((A.data, A.indices, A.indptr), shape=(30, 40))
    assert C._cache is not A._cache


def test_the_facts_are_freed_with_the_arrays():
    S = _scipy(1)
    A = ms.csr_array(S)
    A @ mx.ones((30,))
    key = (id(A.indices), id(A.indptr), A.shape)
    assert _pattern._CACHES[key] is A._cache
    del A
    gc.collect()
    assert key not in _pattern._CACHES


def test_numpy_index_arrays_are_copied_once_while_unchanged():
    S = _scipy(2)
    idx, ptr = S.indices.copy(), S.indptr.copy()
    A = ms.csr_array((S.data, idx, ptr), shape=S.shape)
    B = ms.csr_array((S.data * 3, idx, ptr), shape=S.shape)
    assert A.indices is B.indices and A._cache is B._cache
    # numpy arrays change in place: a changed array is copied again, never stale
    row0 = slice(ptr[0], ptr[1])
    idx[row0] = idx[row0][::-1]
    C = ms.csr_array((S.data, idx, ptr), shape=S.shape)
    assert C.indices is not A.indices
    assert_close(C.toarray(), sp.csr_array((S.data, idx, ptr), shape=S.shape).toarray())
    assert_close(A.toarray(), S.toarray())


def test_a_cast_to_another_index_dtype_is_made_once():
    S = _scipy(3)
    idx, ptr = mx.array(S.indices.astype(np.int64)), mx.array(S.indptr.astype(np.int64))
    A = ms.csr_array((mx.array(S.data), idx, ptr), shape=S.shape, index_dtype=mx.int32)
    B = ms.csr_array((mx.array(S.data), idx, ptr), shape=S.shape, index_dtype=mx.int32)
    assert A.index_dtype == mx.int32 and A.indices is B.indices and A._cache is B._cache


def test_gradient_through_a_loss_that_builds_the_array():
    S = _scipy(4)
    A = ms.csr_array(S)
    idx, ptr = A.indices, A.indptr
    X = mx.random.normal((30, 3), key=mx.random.key(5))

    def built(v):
        return mx.sum(mx.square(ms.csr_array((v, idx, ptr), shape=A.shape) @ X))

    def shared(v):
        return mx.sum(mx.square(A.with_data(v) @ X))

    for _ in range(3):  # the later calls run on the cached transposed structure
        assert_close(mx.grad(built)(A.data), mx.grad(shared)(A.data))
