"""The ops under blksprs's path, ``bs.ops.<name>`` and ``bs.ops.misc.<name>``."""

from ._conversion import adapt_layout, from_blksprs, to_blksprs, to_dense, to_sparse  # noqa: F401
from ._matmul import matmul  # noqa: F401
from ._softmax import softmax, softmax_fused, softmax_regular  # noqa: F401
from ._structure import merge, repeat, repeat_interleave, split  # noqa: F401
from ._distribution import gather, scatter, scatter_reduce  # noqa: F401
from ._transpose import transpose  # noqa: F401
from ._attention import flash_attention, flash_attention_build_lut  # noqa: F401
from . import misc  # noqa: F401
