"""convolve2d (issue 14): 1,000 sparse 100x100 images (density 1 %), a 5x5 kernel, mode "same".

CPU, 2 threads and 1: ours (a CSRArray batch -> CSRArray, the direct kernel; and the drop-in
Toeplitz_convolution2d, scipy.sparse in and out) against sparse_convolution 0.4.2's fastest
method (``direct``, numba; its threads set to ours) and a scipy.signal.convolve2d loop. GPU
(when MLX has one): the same images with dense output against MLX's own mx.conv2d.

    python benchmarks/bench_convolution.py [--quick]

sparse_convolution and numba are benchmark-only: pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse

import mlx.core as mx
import numpy as np
import scipy.sparse as sp
from scipy.signal import convolve2d as scipy_convolve2d

from common import REPEATS, check_close, ms, print_rows, speedup_row, time_pair

N, H, W, DENSITY, K = 1000, 100, 100, 0.01, 5
SC, CONV2D = "sparse_convolution direct+numba", "mx.conv2d on dense images"


def _inputs():
    rng = np.random.default_rng(0)
    X = sp.random_array((N, H * W), density=DENSITY, format="csr", dtype=np.float32, rng=rng)
    k = rng.uniform(-1, 1, (K, K)).astype(np.float32)
    return sp.csr_matrix(X), k


def _sparse_convolution(x_shape, k):
    """sparse_convolution's fastest method (direct, numba), or None where it is missing."""
    try:
        import sparse_convolution as sc

        return sc.Toeplitz_convolution2d(x_shape=x_shape, k=k, mode="same", method="direct")
    except (ImportError, AssertionError) as e:  # package or numba absent
        print(f"sparse_convolution direct+numba unavailable ({e}): its rows are left out")
        return None


def _row(case, t_ours, t_base, target, baseline):
    return speedup_row(f"{case} vs {baseline}", t_ours, t_base, target, baseline=baseline)


def cpu(quick=False):
    mx.set_default_device(mx.cpu)
    X, k = _inputs()
    A, kk = ms.csr_array(X), mx.array(k)
    images = X.toarray().reshape(N, H, W)
    theirs = _sparse_convolution((H, W), k)
    drop_in = ms.Toeplitz_convolution2d((H, W), k, mode="same")

    def ours():
        A._cache.pop("convolve2d", None)  # every call a first product: new images, new pattern
        return ms.convolve2d(A, kk, "same", x_shape=(H, W))

    def scipy_loop():
        return [scipy_convolve2d(image, k, "same") for image in images]

    Y = ours()
    check_close(Y.toarray()[:20], np.stack(scipy_loop()[:20]).reshape(20, -1), "convolve2d")
    if theirs is not None:
        check_close(Y.toarray()[:20], theirs(X[:20]).toarray(), "sparse_convolution")
    rows = []
    for threads in (2, 1):
        ms.set_num_threads(threads)
        if theirs is not None:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            t_ours, t_sc = time_pair(ours, lambda: theirs(X), REPEATS[quick])
            rows.append(_row(f"CSRArray -> CSRArray, {threads} thread(s)", t_ours, t_sc, 5, SC))
            t_drop, t_sc = time_pair(lambda: drop_in(X), lambda: theirs(X), REPEATS[quick])
            rows.append(_row(f"drop-in, scipy.sparse in and out, {threads} thread(s)", t_drop,
                             t_sc, None, SC))
            if threads == 2:  # the same images again (a training loop): the product's pattern is reused
                again = lambda: ms.convolve2d(A, kk, "same", x_shape=(H, W))  # noqa: E731
                t_again, t_sc = time_pair(again, lambda: theirs(X), REPEATS[quick])
                rows.append(_row("same images again, pattern reused, 2 thread(s)", t_again, t_sc,
                                 None, SC))
        t_ours, t_loop = time_pair(ours, scipy_loop, max(5, REPEATS[quick] // 3), block=3)
        rows.append(_row(f"CSRArray -> CSRArray, {threads} thread(s)", t_ours, t_loop, 10,
                         "scipy.signal.convolve2d loop"))
    ms.set_num_threads(2)
    return rows


def gpu(quick=False):
    """Dense output on the GPU: ours from the sparse batch (SpGEMM, then todense) and from the
    dense batch (SpMM), against mx.conv2d (a correlation: the kernel flipped, padded to same)."""
    mx.set_default_device(mx.gpu)
    X, k = _inputs()
    A, kk = ms.csr_array(X), mx.array(k)
    dense = mx.array(X.toarray())
    images = mx.reshape(dense, (N, H, W, 1))
    flipped = mx.array(k[::-1, ::-1].copy()).reshape(1, K, K, 1)
    mx.eval(A, kk, dense, images, flipped)

    def conv2d():
        return mx.conv2d(images, flipped, padding=K // 2)

    def from_sparse():
        return ms.convolve2d(A, kk, "same", x_shape=(H, W), dense_output=True)

    def sparse_then_dense():  # new images every call: the output's pattern is found on the host
        A._cache.pop("convolve2d", None)
        return ms.convolve2d(A, kk, "same", x_shape=(H, W)).todense()

    def from_dense():
        return ms.convolve2d(dense, kk, "same", x_shape=(H, W))

    want = np.array(conv2d()).reshape(N, -1)
    check_close(np.array(from_sparse()), want, "convolve2d sparse in")
    check_close(np.array(sparse_then_dense()), want, "convolve2d sparse in and out")
    check_close(np.array(from_dense()), want, "convolve2d dense in")
    t_ours, t_mx = time_pair(from_sparse, conv2d, REPEATS[quick])
    rows = [_row("GPU: CSRArray in, dense_output=True (SpMM)", t_ours, t_mx, 1.0, CONV2D)]
    t_ours, t_mx = time_pair(sparse_then_dense, conv2d, REPEATS[quick])
    rows.append(_row("GPU: CSRArray in and out (host pattern + SpGEMM), todense", t_ours, t_mx,
                     None, CONV2D))
    t_ours, t_mx = time_pair(from_dense, conv2d, REPEATS[quick])
    rows.append(_row("GPU: dense in, dense out (SpMM)", t_ours, t_mx, None, CONV2D))
    return rows


def run(quick=False, gpu_only=False):
    rows = [] if gpu_only else cpu(quick)
    if mx.is_available(mx.gpu) and ms.gpu_backend() is not None:
        rows += gpu(quick)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--gpu-only", action="store_true", help="the GPU rows alone")
    args = ap.parse_args()
    print_rows(run(args.quick, args.gpu_only), "convolve2d: 1000 x 100x100 images, density 1 %, "
               "5x5 kernel, same (medians of interleaved rounds; ratio = baseline / ours)")
