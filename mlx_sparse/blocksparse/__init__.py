"""mlx_sparse.blocksparse: block-sparse tensors with blksprs's names and semantics, on MLX.

``import mlx_sparse.blocksparse as bs`` in place of ``import blksprs as bs``: a tensor is a
compressed (n_blocks, bs, bs) array of the blocks a layout marks, in row-major (batch, row,
column) order, plus its layout (B, M/bs, N/bs) and block size, as in blksprs.

=======================  ================================================================
``to_sparse``            dense (B, M, N) -> compressed blocks of a layout
``to_dense``             compressed -> dense (absent blocks hold ``fill_value``)
``adapt_layout``         re-block to another block size and/or layout
``matmul``               x @ y at the output layout's blocks only
``softmax``              row-wise softmax, absent blocks as -inf
``transpose``            returns (x_t, layout_t)
``flash_attention``      softmax(scale q k^T + bias) v over an attention layout's blocks
``repeat``               tile along batch, rows, columns; returns (x, layout)
``repeat_interleave``    repeat each batch entry in place
``split``, ``merge``     last dimension to batch and back
``gather``, ``scatter``  along a dimension by an index tensor (``scatter_reduce``: sum)
``misc``                 row_wise_sum/max/add/sub, broadcast_add/sub
``layouting``            build_sparsity_layout (+ _adaption, _matmul, _matmul_fast, _full),
                         build_causal_layout, build_sliding_window_layout
=======================  ================================================================

Every op is written with MLX ops (gathers, reshapes, batched ``mx.matmul``, scatter
reductions) from index tables built once per layout on the host, so it runs wherever MLX
does (CPU, CUDA, Metal) and differentiates with ``mx.grad``. ``flash_attention`` runs fused
kernels instead where they take the operands (CPU, CUDA, Metal; ``fused=``), and on the
CPU ``matmul`` with a dense y, or with dense x and y and a sparse output, runs the block
kernels ``bsr_spmm`` / ``bsr_sddmm``; nothing else here claims speed. ``bs.ops.<name>``,
``bs.ops.misc.<name>``, ``bs.layouting.<name>`` and ``bs.utils.do_shape_blocksparse`` are
spelled as in blksprs.
"""

from ._conversion import adapt_layout, from_blksprs, to_blksprs, to_dense, to_sparse
from ._matmul import matmul
from ._softmax import softmax, softmax_fused, softmax_regular
from ._structure import merge, repeat, repeat_interleave, split
from ._distribution import gather, scatter, scatter_reduce
from ._transpose import transpose
from ._attention import flash_attention, flash_attention_build_lut
from . import layouting, misc, ops, utils  # noqa: E402

__all__ = ["to_sparse", "to_dense", "to_blksprs", "from_blksprs", "adapt_layout", "matmul",
           "flash_attention", "flash_attention_build_lut", "softmax", "softmax_fused", "softmax_regular", "transpose",
           "repeat", "repeat_interleave", "split", "merge", "gather", "scatter", "scatter_reduce",
           "layouting", "misc", "ops", "utils"]
