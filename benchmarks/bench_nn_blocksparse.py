"""BlockSparseLinear's forward route: W as a BSRArray (one SpMM through our CSR kernel, what
the layer does) against ``blocksparse.matmul`` (gathers + batched ``mx.matmul``), timed side by
side, forward and forward + backward (gradient to the blocks), plus MLX's dense nn.Linear.

    python benchmarks/bench_nn_blocksparse.py [--quick]

Times are medians in ms; ratios are theirs / ours (> 1: the layer's route is faster).
"""

from __future__ import annotations

import argparse

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from common import REPEATS, time_fn, time_pair  # puts the repository's mlx_sparse on sys.path

import mlx_sparse.blocksparse as bs  # noqa: E402
from mlx_sparse.nn import BlockSparseLinear  # noqa: E402


def routes(layer: BlockSparseLinear, x: mx.array):
    """(the layer's BSR product, the same product through blocksparse.matmul) as functions of
    the blocks."""
    s, n = layer.block_size, x.shape[0]
    lw = layer.layout[None]
    lx = mx.ones((1, layer.in_features // s, n // s), mx.bool_)
    lo = mx.ones((1, layer.out_features // s, n // s), mx.bool_)
    xs = bs.to_sparse(x.T[None], lx, s)

    def bsr(blocks):
        return (layer._bsr()._with_data(blocks) @ x.T).T

    def blocksparse(blocks):
        return bs.to_dense(bs.matmul(blocks, lw, xs, lx, lo, s), lo, s)[0].T

    return bsr, blocksparse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = REPEATS[args.quick]
    mx.set_default_device(mx.cpu)
    print(f"{'case':52s} {'BSR (ms)':>9s} {'bs.matmul':>10s} {'ratio':>6s} {'dense nn.Linear':>16s}")
    for features, size, density, batch in [(1024, 32, 0.25, 256), (1024, 32, 0.1, 256),
                                           (2048, 64, 0.1, 128)]:
        layer = BlockSparseLinear(features, features, block_size=size, density=density, bias=False,
                                  key=mx.random.key(0))
        x = mx.random.normal((batch, features), key=mx.random.key(1))
        bsr, blocksparse = routes(layer, x)
        np.testing.assert_allclose(np.array(bsr(layer.blocks)), np.array(blocksparse(layer.blocks)),
                                   rtol=1e-4, atol=1e-3)
        dense = nn.Linear(features, features, bias=False)
        case = f"{features}^2, bs {size}, {density:.0%} of blocks, batch {batch}"
        for kind, fa, fb in [
                ("fwd", lambda: bsr(layer.blocks), lambda: blocksparse(layer.blocks)),
                ("fwd+bwd", lambda: mx.grad(lambda b: bsr(b).sum())(layer.blocks),
                 lambda: mx.grad(lambda b: blocksparse(b).sum())(layer.blocks))]:
            ours, theirs = time_pair(fa, fb, repeats=repeats, block=min(10, repeats))
            t_dense = time_fn(lambda: dense(x), repeats=max(3, repeats // 5))
            print(f"{case + ', ' + kind:52s} {ours.median_ms:9.2f} {theirs.median_ms:10.2f} "
                  f"{theirs.median_ms / ours.median_ms:6.1f} {t_dense.median_ms:16.2f}")


if __name__ == "__main__":
    main()
