"""SpGEMM (A @ A, both sparse) with a canonical (sorted, duplicate-free) result."""

from __future__ import annotations

import numpy as np

from common import (REPEATS, print_rows, random_nnz_per_row, speedup_row, time_pair, to_mlx,
                    user_row)

N, NNZ_PER_ROW = 16384, 8


def cases():
    return ["spgemm"]


def _scipy_needs_sort(S) -> bool:
    """Is scipy's A @ A non-canonical, so that a fair comparison must add .sort_indices()?

    scipy's SMMP kernel leaves each row's columns in accumulator order (no duplicates);
    our result is canonical. Decided by looking, not assumed, in case scipy changes.
    """
    C = S @ S
    return not (C.has_sorted_indices and C.has_canonical_format)  # these check the indices


def spgemm(quick=False):
    S = random_nnz_per_row(N, N, NNZ_PER_ROW, seed=0)
    (A,) = to_mlx(S)
    needs_sort = _scipy_needs_sort(S)

    def base_fn():
        C = S @ S
        if needs_sort:
            C.sort_indices()  # in place
        return C

    # check once: same pattern and values as scipy's canonical product
    C, R = A @ A, base_fn()
    assert np.array_equal(np.asarray(C.indptr), R.indptr) and np.array_equal(np.asarray(C.indices), R.indices)
    assert np.allclose(np.asarray(C.data), R.data, rtol=1e-4, atol=1e-5)

    # ours: the host symbolic phase and the lazy numeric phase, evaluated (A @ A is a CSRArray);
    # A keeps its last product's pattern, dropped here so that every call is a first product
    def first_product():
        A._cache.pop("spgemm", None)
        return A @ A

    how = "scipy A@A + .sort_indices()" if needs_sort else "scipy A@A (already canonical)"
    rows = [user_row(f"SpGEMM A @ A, 16384^2, 8 nnz/row, canonical ({how})", first_product,
                     base_fn, REPEATS[quick], 1.5, scipy_sort_indices=needs_sort,
                     nnz_out=int(R.nnz))]
    # new values on the same patterns, as in a training loop: the pattern is reused
    t_again, t_base = time_pair(lambda: A @ A, base_fn, REPEATS[quick])
    rows.append(speedup_row("SpGEMM A @ A again, same patterns (pattern reused)", t_again,
                            t_base, None, scipy_sort_indices=needs_sort))
    return rows


def run(quick=False):
    return spgemm(quick)


if __name__ == "__main__":
    import sys
    print_rows(run("--quick" in sys.argv), "SpGEMM (float32 values, int32 indices)")
