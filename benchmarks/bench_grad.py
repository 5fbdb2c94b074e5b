"""Gradient w.r.t. dense B of sum((A @ B)**2): the backward SpMM A^T @ G."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from common import (REPEATS, check_close, dense, ms, print_rows, random_density, speedup_row,
                    time_pair, to_mlx, user_row)

N, DENSITY, K = 4096, 1e-2, 128


def cases():
    return ["grad_spmm (mx.square)", "grad_spmm_pow (info)", "same pattern, csr_array form",
            "A.T @ B", "X @ A", "grad_B", "grad_B of a sum (info)"]


def grad_spmm(quick=False):
    S = random_density(N, N, DENSITY, seed=0)
    B = dense((N, K), seed=1)
    A, Bm = to_mlx(S, B)
    # The loss is written with mx.square: on MLX's CPU backend `x ** 2` goes through a
    # generic pow that costs more than both sparse products together; the `**` form is
    # reported below for information.
    grad = mx.grad(lambda B: mx.square(A @ B).sum())

    # baseline: only the backward product A^T @ G, with A^T already built as CSR and
    # G = 2 A B precomputed. Ours does the whole forward + backward, so this favours scipy.
    ST = S.T.tocsr()
    G = 2 * (S @ B)
    check_close(grad(Bm), ST @ G, "grad wrt B", rtol=1e-3)
    row = user_row("grad_B sum(square(A @ B)), 4096^2, 1e-2, k=128 (scipy: A.T @ G only)",
                   lambda: grad(Bm), lambda: ST @ G, REPEATS[quick], 1.5)

    grad_pow = mx.grad(lambda B: ((A @ B) ** 2).sum())
    t_pow, t_base2 = time_pair(lambda: grad_pow(Bm), lambda: ST @ G, REPEATS[quick])
    info = speedup_row("  same, loss written with ** 2 (MLX pow; info)", t_pow, t_base2, None)
    return [row, info]


def same_pattern(quick=False):
    """Issue 16's cases on 16384^2, density 1e-3, k = 64: a loss that builds its matrix with
    csr_array((v, indices, indptr)) each call against A.with_data(v) (the pattern's facts are
    found by its index arrays), and the transposed products against A @ B."""
    S = random_density(16384, 16384, 1e-3, seed=2)
    B, X = dense((16384, 64), seed=3), dense((64, 16384), seed=4)
    A, Bm, Xm = to_mlx(S, B, X)
    idx, ptr, v = A.indices, A.indptr, A.data
    built = mx.grad(lambda v: mx.square(ms.csr_array((v, idx, ptr), shape=A.shape) @ Bm).sum())
    shared = mx.grad(lambda v: mx.square(A.with_data(v) @ Bm).sum())
    check_close(built(v), shared(v), "grad, csr_array form", rtol=1e-3)
    t_built, t_shared = time_pair(lambda: built(v), lambda: shared(v), REPEATS[quick])
    rows = [speedup_row("grad of sum(square(csr_array((v, idx, ptr)) @ B)) vs the with_data form",
                        t_built, t_shared, 0.91, baseline="A.with_data(v)")]  # within 1.1x
    forward = lambda: A @ Bm  # noqa: E731
    check_close(A.T @ Bm, S.T @ B, "A.T @ B")
    check_close(ms.matmul(Xm, A), X @ S, "X @ A")
    # The B-gradient: A @ B's vjp with respect to B for a dense cotangent W (what a loss hands
    # back). A plain sum's cotangent is a broadcast, which the products take as one column
    # (the last row, informative).
    W = mx.array(np.random.default_rng(5).standard_normal((16384, 64)).astype(np.float32))
    vjp_B = lambda: mx.vjp(lambda B: A @ B, [Bm], [W])[1][0]  # noqa: E731
    check_close(vjp_B(), S.T @ np.array(W), "grad_B")
    for case, f, target in (
            ("A.T @ B", lambda: A.T @ Bm, 0.83), ("X @ A", lambda: ms.matmul(Xm, A), 0.83),
            ("grad_B (vjp of A @ B, dense cotangent)", vjp_B, 0.83),
            ("grad_B of sum(A @ B) (one column)",
             lambda: mx.grad(lambda B: (A @ B).sum())(Bm), None)):
        t_case, t_forward = time_pair(f, forward, REPEATS[quick])
        rows.append(speedup_row(f"{case} vs A @ B, 16384^2, 1e-3, k=64", t_case, t_forward,
                                target, baseline="A @ B"))  # 0.83: within 1.2x
    return rows


def run(quick=False):
    return grad_spmm(quick) + same_pattern(quick)


if __name__ == "__main__":
    import sys
    print_rows(run("--quick" in sys.argv), "Gradient through SpMM (float32)")
