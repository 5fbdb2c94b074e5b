"""The CUDA flash_attention kernels (csrc/cuda/kernels/flash_attention.cu) driven directly from
CuPy, without MLX: compile the file with nvcc, launch each kernel through the driver API with
the argument order of csrc/gpu/flash_attention_gpu.cpp, and build the block structure the
kernels read (docs/developer/flash_attention.md). Used by tests/test_flash_attention_cuda.py
and benchmarks/bench_flash_attention_cuda.py on a machine with an NVIDIA GPU."""

from __future__ import annotations

import ctypes
import pathlib
import shutil
import subprocess
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCE = ROOT / "csrc" / "cuda" / "kernels" / "flash_attention.cu"
OWN = 64  # output columns per thread block (kOwn in the kernel file)


class AttentionArgs(ctypes.Structure):  # csrc/gpu/core/params.h
    _fields_ = [(n, ctypes.c_int64) for n in ("batch", "lq", "lk", "d", "dv", "bs", "n_blocks")] + [
        ("scale", ctypes.c_float), ("has_bias", ctypes.c_int32), ("has_mask", ctypes.c_int32),
        ("pad", ctypes.c_int32)]


assert ctypes.sizeof(AttentionArgs) == 72


def available():
    try:
        import cupy

        return shutil.which("nvcc") is not None and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def compile_module():
    """The kernel file compiled for this GPU: the path of its cubin."""
    import cupy

    cc = cupy.cuda.Device().compute_capability
    arch = "".join(map(str, cc)) if isinstance(cc, tuple) else str(cc)
    out = pathlib.Path(tempfile.mkdtemp()) / "flash_attention.cubin"
    subprocess.run(["nvcc", "-std=c++20", "-O3", "-cubin", f"-arch=sm_{arch}",
                    f"-I{ROOT / 'csrc'}", "-o", str(out), str(SOURCE)], check=True)
    return str(out)


def layout_structure(layout):
    """Block CSR (row_ptr, col) of a boolean layout [B, Mb, Nb] and its transpose
    (t_ptr, t_row, t_block), all int32, blksprs's row-major block order."""
    B, mb, nb = layout.shape
    flat = layout.reshape(B * mb, nb)
    row_ptr = np.concatenate([[0], np.cumsum(flat.sum(1))]).astype(np.int32)
    b_idx, i_idx, j_idx = np.nonzero(layout)
    col = j_idx.astype(np.int32)
    order = np.lexsort((i_idx, j_idx, b_idx))  # by (b, j), then i
    t_counts = np.zeros(B * nb, np.int64)
    np.add.at(t_counts, b_idx * nb + j_idx, 1)
    t_ptr = np.concatenate([[0], np.cumsum(t_counts)]).astype(np.int32)
    return row_ptr, col, t_ptr, i_idx[order].astype(np.int32), order.astype(np.int32)


class Kernels:
    """The cubin's kernels, loaded and launched through the driver API (as csrc/cuda/launch.cpp
    does): pointer arguments from CuPy arrays, plain values as ctypes."""

    def __init__(self, cubin):
        import cupy

        cupy.zeros(1)  # a current context
        self.module = cupy.cuda.driver.moduleLoad(cubin)
        self.functions = {}

    def launch(self, name, grid, block, *args):
        import cupy

        if name not in self.functions:
            self.functions[name] = cupy.cuda.driver.moduleGetFunction(self.module, name)
        keep = [ctypes.c_void_p(a.data.ptr) if isinstance(a, cupy.ndarray) else a for a in args]
        params = (ctypes.c_void_p * len(keep))(*(ctypes.addressof(v) for v in keep))
        cupy.cuda.driver.launchKernel(self.functions[name], grid[0], grid[1], 1, block, 1, 1, 0,
                                      cupy.cuda.get_current_stream().ptr,
                                      ctypes.addressof(params), 0)


def dtype_name(dtype):
    return {np.float32: "float32", np.float16: "float16"}.get(np.dtype(dtype).type, "bfloat16")


class Problem:
    """Device arrays of one attention problem and the kernels' calls on it (the same sequence
    as csrc/gpu/flash_attention_gpu.cpp). `cast` turns a float32 host array into the device
    dtype (bfloat16 goes through cupy's uint16 view, see tests)."""

    def __init__(self, kernels, q, k, v, layout, bs, scale, bias=None, mask=None, dtype_tag="float16",
                 upload=None):
        import cupy

        self.kn, self.bs, self.tag = kernels, bs, dtype_tag
        B, lq, d = q.shape
        lk, dv = k.shape[1], v.shape[2]
        self.row_ptr, self.col, self.t_ptr, self.t_row, self.t_block = (
            cupy.asarray(x) for x in layout_structure(layout))
        self.q, self.k, self.v = upload(q), upload(k), upload(v)
        n_blocks = int(self.col.size)
        self.bias = upload(bias) if bias is not None else self.q
        self.mask = cupy.asarray(mask.astype(np.uint8)) if mask is not None else self.q
        self.a = AttentionArgs(B, lq, lk, d, dv, bs, n_blocks, scale, int(bias is not None),
                               int(mask is not None), 0)
        self.o = cupy.empty((B, lq, dv), self.q.dtype)
        self.lse = cupy.empty((B, lq), cupy.float32)
        self.rows, self.cols = B * (lq // bs), B * (lk // bs)
        self.dq, self.dk = cupy.empty_like(self.q), cupy.empty_like(self.k)
        self.dv = cupy.empty_like(self.v)
        self.dbias = cupy.empty((n_blocks, bs, bs), self.q.dtype) if bias is not None else self.dq
        self.delta = cupy.empty((B, lq), cupy.float32)

    def name(self, kind):
        return f"flash_attention_{kind}_bs{self.bs}_{self.tag}_int32"

    def forward(self):
        a = self.a
        self.kn.launch(self.name("forward"), (self.rows, -(-a.dv // OWN)), self.bs * 2, self.q,
                       self.k, self.v, self.row_ptr, self.col, self.bias, self.mask, self.o,
                       self.lse, a)

    def backward(self, d_o, dlse):
        a = self.a
        n = a.batch * a.lq
        self.kn.launch(f"flash_attention_delta_{self.tag}", (-(-n * 32 // 256), 1), 256, self.o,
                       d_o, dlse, self.delta, a)
        self.kn.launch(self.name("dq"), (self.rows, -(-a.d // OWN)), self.bs * 2, self.q, self.k,
                       self.v, self.row_ptr, self.col, self.bias, self.mask, self.lse, d_o,
                       self.delta, self.dq, self.dbias, a)
        self.kn.launch(self.name("dkdv"), (self.cols, -(-max(a.d, a.dv) // OWN)), self.bs * 2,
                       self.q, self.k, self.v, self.t_ptr, self.t_row, self.t_block, self.bias,
                       self.mask, self.lse, d_o, self.delta, self.dk, self.dv, a)


def reference(q, k, v, layout, bs, scale, bias, mask, d_o, dlse):
    """float64 dense reference: o, lse and the gradients of sum(d_o * o) + sum(dlse * lse)."""
    B, lq, _ = q.shape
    lk = k.shape[1]
    allowed = np.repeat(np.repeat(layout, bs, 1), bs, 2)
    full_bias = np.zeros((B, lq, lk))
    full_mask = np.zeros((B, lq, lk), bool)
    b_idx, i_idx, j_idx = np.nonzero(layout)
    for e, (b, i, j) in enumerate(zip(b_idx, i_idx, j_idx)):
        if bias is not None:
            full_bias[b, i * bs:(i + 1) * bs, j * bs:(j + 1) * bs] = bias[e]
        if mask is not None:
            full_mask[b, i * bs:(i + 1) * bs, j * bs:(j + 1) * bs] = mask[e]
    live = allowed & ~full_mask
    s = scale * q @ k.transpose(0, 2, 1) + full_bias
    s = np.where(live, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0)
    e_ = np.where(live, np.exp(s - m_safe), 0)
    z = e_.sum(-1, keepdims=True)
    p = np.where(z > 0, e_ / np.where(z > 0, z, 1), 0)
    o = p @ v
    lse = np.where(z[..., 0] > 0, m_safe[..., 0] + np.log(np.where(z[..., 0] > 0, z[..., 0], 1)),
                   -np.inf)
    dp = d_o @ v.transpose(0, 2, 1)
    delta = (d_o * o).sum(-1) - dlse
    ds = p * (dp - delta[..., None])
    dq = scale * ds @ k
    dk = scale * ds.transpose(0, 2, 1) @ q
    dv = p.transpose(0, 2, 1) @ d_o
    dbias = np.stack([ds[b, i * bs:(i + 1) * bs, j * bs:(j + 1) * bs]
                      for b, i, j in zip(b_idx, i_idx, j_idx)]) if len(b_idx) else np.zeros((0, bs, bs))
    return o, lse, dq, dk, dv, dbias
