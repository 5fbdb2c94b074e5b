"""Gradient w.r.t. dense B of sum((A @ B)**2): the backward SpMM A^T @ G."""

from __future__ import annotations

import mlx.core as mx

from common import REPEATS, check_close, dense, print_rows, random_density, speedup_row, time_pair, to_mlx

N, DENSITY, K = 4096, 1e-2, 128


def cases():
    return ["grad_spmm (mx.square)", "grad_spmm_pow (info)"]


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
    t_ours, t_base = time_pair(lambda: grad(Bm), lambda: ST @ G, REPEATS[quick])
    row = speedup_row("grad_B sum(square(A @ B)), 4096^2, 1e-2, k=128 (scipy: A.T @ G only)",
                      t_ours, t_base, 1.5)

    grad_pow = mx.grad(lambda B: ((A @ B) ** 2).sum())
    t_pow, t_base2 = time_pair(lambda: grad_pow(Bm), lambda: ST @ G, REPEATS[quick])
    info = speedup_row("  same, loss written with ** 2 (MLX pow; info)", t_pow, t_base2, None)
    return [row, info]


def run(quick=False):
    return grad_spmm(quick)


if __name__ == "__main__":
    import sys
    print_rows(run("--quick" in sys.argv), "Gradient through SpMM (float32)")
