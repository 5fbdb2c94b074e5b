import mlx.core as mx
import numpy as np
import scipy.sparse as sp

import mlx_sparse as ms


def test_spmm_matches_scipy():
    S = sp.random(37, 29, density=0.1, format="csr", dtype=np.float32, random_state=0)
    B = np.random.default_rng(0).random((29, 17), dtype=np.float32)
    A = ms.csr_array(S)
    np.testing.assert_allclose(np.array(A @ mx.array(B)), S @ B, rtol=1e-5, atol=1e-6)
