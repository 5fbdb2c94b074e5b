"""Choosing the default device for sparse work."""

from __future__ import annotations

import warnings

import mlx.core as mx

from . import _ext


def gpu_backend() -> str | None:
    """The GPU backend this build of mlx_sparse has kernels for ("metal", "cuda"), or None."""
    return _ext.gpu_backend()


def metal_compile_all() -> dict[str, str]:
    """On Metal, compile every kernel family now (otherwise each compiles at first use).

    Returns ``{family: error}`` for the families that did not compile; empty when all did,
    and on other backends. A failure is remembered: it is not retried.
    """
    return dict(_ext.metal_compile_all())


def use_gpu():
    """Make the GPU MLX's default device, if MLX has one and mlx_sparse has kernels for it.

    On Metal, every kernel family is compiled first; if one does not compile, warns once
    (naming them, with the first one's error) and stays on the CPU, as it does where MLX has no
    GPU or this build no GPU kernels. Returns the device in use (``mx.gpu`` or ``mx.cpu``).
    """
    if not mx.is_available(mx.gpu):
        warnings.warn("[use_gpu] MLX has no GPU on this machine; staying on the CPU", stacklevel=2)
        return use_cpu()
    if gpu_backend() is None:
        warnings.warn(
            "[use_gpu] this build of mlx_sparse has no GPU kernels; staying on the CPU", stacklevel=2
        )
        return use_cpu()
    if gpu_backend() == "metal":
        failures = metal_compile_all()
        if failures:
            first = failures[min(failures)]
            warnings.warn(
                f"[use_gpu] Metal could not compile the kernel families {', '.join(sorted(failures))}; "
                f"staying on the CPU. The first error:\n{first}",
                stacklevel=2,
            )
            return use_cpu()
    mx.set_default_device(mx.gpu)
    return mx.gpu


def use_cpu():
    """Make the CPU MLX's default device. Returns ``mx.cpu``."""
    mx.set_default_device(mx.cpu)
    return mx.cpu
