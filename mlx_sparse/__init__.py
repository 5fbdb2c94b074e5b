"""mlx_sparse: sparse (CSR, CSC, COO, BSR) arrays for MLX.

Ops (each a differentiable MLX primitive in C++, or, for convolve2d, products of them):

==============  ===========================================================
``spmv``        sparse @ vector
``spmm``        sparse @ dense matrix (batched)
``sddmm``       dense @ dense.T sampled at a sparse pattern
``spgemm``      sparse @ sparse
``matmul``      ``@`` for any mix of sparse and dense operands
``multiply``    elementwise product (scalar, dense or sparse)
``add``         sparse + sparse (union of patterns), sparse + dense
``sum``         sum of all entries, of rows or of columns
``softmax``     row-wise softmax of the stored values (attention over a graph)
``convolve2d``  2-D convolution of images through the kernel's sparse Toeplitz matrix
==============  ===========================================================

Block-sparse tensors with blksprs's API: ``mlx_sparse.blocksparse`` (``import
mlx_sparse.blocksparse as bs``).

Formats: ``CSRArray``, ``CSCArray`` (the CSR of its transpose), ``COOArray`` (duplicates kept
until ``sum_duplicates``) and ``BSRArray`` (block sparse rows), all ``SparseArray``: one ``@``,
``tocsr`` / ``tocsc`` / ``tocoo`` / ``tobsr`` / ``asformat``, scipy's reductions and elementwise
ops on each, indexing ``A[rows, cols]`` as scipy's csr_array. Construction: ``csr_array``,
``csc_array``, ``coo_array`` and ``bsr_array`` (scipy's forms) and ``fromdense``; ``eye``,
``diags``, ``random``; structure (scipy's): ``bmat``, ``vstack``, ``hstack``, ``block_diag``,
``kron``, ``kronsum``, ``tril``, ``triu``, ``diagonal``, ``trace``, ``setdiag``; graphs:
``from_edge_index``, ``normalize_adjacency``. Files: ``savez``,
``save_safetensors`` and ``load`` (MLX's files, CSRArrays included), ``save_npz`` and
``load_npz`` (scipy's format). Devices: ``use_gpu`` and
``use_cpu``. CPU threads: ``num_threads`` and ``set_num_threads`` (or the environment
variable ``MLX_SPARSE_NUM_THREADS``). mlx-sparse's names (``csr_matvec``, ``csr_matmul``,
``csr_matmat``, ``use_device``) work and warn with ours.
"""

from importlib import metadata as _metadata


def _no_backend(error: ImportError) -> ImportError:
    """What to install when mlx.core cannot load: plain ``mlx`` on Linux has no libmlx.so."""
    try:
        pin = "==" + _metadata.version("mlx")
    except _metadata.PackageNotFoundError:
        pin = ""
    return ImportError(
        f"[mlx_sparse] MLX cannot be loaded ({error}). On Linux plain `mlx` has no library: "
        f'install its CPU build, pip install "mlx-csr[cpu]" (or pip install "mlx[cpu]{pin}"), '
        f"or its CUDA build, pip install mlx-cuda-13{pin} (one of the two: they conflict).")


try:
    import mlx.core as _mx  # noqa: F401 - must be imported before the extension
except ImportError as _error:
    raise _no_backend(_error) from _error

from . import _ext
from ._base import SparseArray
from ._bsr import BSRArray, bsr_array
from ._construct import csr_array, fromdense
from ._coo import COOArray, coo_array
from ._csc import CSCArray, csc_array
from ._convolution import Toeplitz_convolution2d, convolution_matrix2d, convolve2d
from ._csr import CSRArray
from ._compat import csr_matmat, csr_matmul, csr_matvec, use_device
from ._device import gpu_backend, use_cpu, use_gpu
from ._graph import (diags, diags_array, eye, eye_array, from_edge_index, identity,
                     normalize_adjacency, rand, random, random_array)
from ._io import load, load_npz, save_npz, save_safetensors, savez
from ._ops import add, matmul, multiply, sddmm, softmax, spgemm, spmm, spmv, sum
from ._structure import (block_diag, bmat, diagonal, hstack, kron, kronsum, setdiag, trace,
                         tril, triu, vstack)

from . import blocksparse, datasets, linalg, models, nn  # noqa: E402 - after _ext
from ._version import __version__

num_threads = _ext.num_threads
set_num_threads = _ext.set_num_threads
kernel_isa = _ext.kernel_isa

# No builtin's name (sum): `from mlx_sparse import *` must not shadow it; ms.sum stays.
__all__ = [
    "SparseArray", "CSRArray", "BSRArray", "COOArray", "CSCArray", "csr_array", "bsr_array",
    "coo_array", "csc_array", "fromdense",
    "spmv", "spmm", "sddmm", "spgemm", "matmul", "multiply", "add", "softmax",
    "convolve2d", "convolution_matrix2d", "Toeplitz_convolution2d",
    "eye", "eye_array", "identity", "diags", "diags_array", "random", "rand", "random_array",
    "from_edge_index", "normalize_adjacency",
    "bmat", "vstack", "hstack", "block_diag", "kron", "kronsum", "tril", "triu",
    "diagonal", "trace", "setdiag",
    "savez", "save_safetensors", "load", "save_npz", "load_npz",
    "use_gpu", "use_cpu", "gpu_backend",
    "num_threads", "set_num_threads", "kernel_isa",
    "csr_matvec", "csr_matmul", "csr_matmat", "use_device",  # mlx-sparse's names (deprecated)
]
