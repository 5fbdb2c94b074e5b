"""Choosing the default device for sparse work."""

from __future__ import annotations

import warnings

import mlx.core as mx

from . import _ext


def gpu_backend() -> str | None:
    """The GPU backend this build of mlx_sparse has kernels for ("metal", "cuda"), or None."""
    return _ext.gpu_backend()


def use_gpu():
    """Make the GPU MLX's default device, if MLX has one and mlx_sparse has kernels for it.

    Otherwise warns, stays on the CPU and returns ``mx.cpu``. Returns the device in use.
    """
    if not mx.is_available(mx.gpu):
        warnings.warn("[use_gpu] MLX has no GPU on this machine; staying on the CPU", stacklevel=2)
        return use_cpu()
    if gpu_backend() is None:
        warnings.warn(
            "[use_gpu] this build of mlx_sparse has no GPU kernels; staying on the CPU", stacklevel=2
        )
        return use_cpu()
    mx.set_default_device(mx.gpu)
    return mx.gpu


def use_cpu():
    """Make the CPU MLX's default device. Returns ``mx.cpu``."""
    mx.set_default_device(mx.cpu)
    return mx.cpu
