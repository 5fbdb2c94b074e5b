"""The CUDA flash_attention kernels against a float64 numpy reference, launched from CuPy
(tests/flash_attention_cuda.py), so they are checked on an NVIDIA GPU with or without MLX's
CUDA build: every block size, float32/float16/bfloat16, head sizes below, at and above one
thread block's 64 output columns, mask, bias, empty rows and columns, fully masked rows.
Skipped where there is no GPU, CuPy or nvcc (the developers' and CI's machines)."""

import numpy as np
import pytest

from flash_attention_cuda import Kernels, Problem, available, compile_module, dtype_name, reference

pytestmark = pytest.mark.skipif(not available(), reason="needs an NVIDIA GPU, CuPy and nvcc")


@pytest.fixture(scope="module")
def kernels():
    return Kernels(compile_module())


def to_bf16_bits(x):
    u = np.ascontiguousarray(x, np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def host(x, dtype):
    x = x.get() if hasattr(x, "get") else x
    if dtype == "bfloat16":
        return (x.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return x.astype(np.float64)


def uploader(dtype):
    import cupy

    if dtype == "bfloat16":
        return lambda x: cupy.asarray(to_bf16_bits(x))
    return lambda x: cupy.asarray(np.asarray(x, dtype))


def rounded(x, dtype):
    """x as the kernels see it (rounded to the input dtype), in float64."""
    if dtype == "bfloat16":
        return host(to_bf16_bits(x), dtype)
    return np.asarray(x, dtype).astype(np.float64)


TOL = {"float32": 2e-5, "float16": 2e-2, "bfloat16": 6e-2}


def close(got, want, tol, what):
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    err = float(np.abs(got - want).max()) if want.size else 0.0
    assert err <= tol * scale, f"{what}: max abs error {err:.3g} > {tol * scale:.3g}"


@pytest.mark.parametrize("dtype", [np.float32, np.float16, "bfloat16"], ids=["f32", "f16", "bf16"])
@pytest.mark.parametrize("bs", [16, 32, 64])
@pytest.mark.parametrize("d,dv", [(64, 64), (8, 24), (72, 136)])
@pytest.mark.parametrize("extras", ["plain", "mask_bias"])
def test_kernels_match_numpy(kernels, dtype, bs, d, dv, extras):
    import cupy

    tag = dtype if isinstance(dtype, str) else dtype_name(dtype)
    rng = np.random.default_rng(bs * 1000 + d + dv)
    B, mb, nb = 3, 4, 5
    layout = rng.random((B, mb, nb)) < 0.5
    layout[0, 1] = False  # an empty query block row
    layout[1, :, 2] = False  # an empty key block column
    layout[2, 0, 0] = True
    n_blocks = int(layout.sum())
    lq, lk = mb * bs, nb * bs
    q, k = (rng.standard_normal((B, l, d)).astype(np.float32) for l in (lq, lk))
    v = rng.standard_normal((B, lk, dv)).astype(np.float32)
    bias = mask = None
    if extras == "mask_bias":
        bias = rng.standard_normal((n_blocks, bs, bs)).astype(np.float32)
        mask = rng.random((n_blocks, bs, bs)) < 0.3
        mask[0, 3, :] = True  # a row fully masked in its only block, or partly covered
    d_o = rng.standard_normal((B, lq, dv)).astype(np.float32)
    dlse = rng.standard_normal((B, lq)).astype(np.float32)
    scale = 1.0 / np.sqrt(d)
    up = uploader(tag)
    prob = Problem(kernels, q, k, v, layout, bs, scale, bias, mask, tag, up)
    prob.forward()
    d_o_dev = up(d_o)
    prob.backward(d_o_dev, cupy.asarray(dlse))
    cupy.cuda.get_current_stream().synchronize()
    r = lambda x: None if x is None else rounded(x, tag)  # noqa: E731
    want = reference(r(q), r(k), r(v), layout, bs, scale, r(bias), mask, r(d_o),
                     dlse.astype(np.float64))
    tol = TOL[tag]
    lse = prob.lse.get()
    assert np.array_equal(np.isneginf(lse), np.isneginf(want[1])), "lse: -inf rows differ"
    finite = np.isfinite(want[1])
    close(lse[finite], want[1][finite], tol, "lse")
    close(host(prob.o, tag), want[0], tol, "o")
    names = ["dq", "dk", "dv"]
    for got, w, name in zip((prob.dq, prob.dk, prob.dv), want[2:5], names):
        close(host(got, tag), w, 2 * tol, name)
    if bias is not None:
        close(host(prob.dbias, tag), want[5], 2 * tol, "dbias")
    # rows with no column: o = 0 and zero gradient
    empty = ~finite
    assert np.all(host(prob.o, tag)[empty] == 0) and np.all(host(prob.dq, tag)[empty] == 0)
