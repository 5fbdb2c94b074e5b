"""ms.use_gpu(): where MLX has no GPU it stays on the CPU; on Metal it compiles every kernel
family first and, if one does not compile, warns naming them and keeps the CPU. No Mac runs
here, so the Metal path is driven by replacing the device checks and _ext's compile call."""

import warnings

import mlx.core as mx
import pytest

import mlx_sparse as ms
from mlx_sparse import _device, _ext


@pytest.fixture
def metal_build(monkeypatch):
    """A build whose backend is Metal on a machine whose MLX has a GPU (stand-ins)."""
    chosen = []
    monkeypatch.setattr(_device.mx, "is_available", lambda d: True)
    monkeypatch.setattr(_ext, "gpu_backend", lambda: "metal")
    monkeypatch.setattr(_device.mx, "set_default_device", chosen.append)
    return chosen


def test_metal_compile_all_is_empty_off_metal():
    if ms.gpu_backend() == "metal":
        pytest.skip("a Metal build: the real compile runs in the device suite")
    assert _device.metal_compile_all() == {}


def test_without_a_gpu_use_gpu_warns_and_stays_on_the_cpu(monkeypatch):
    monkeypatch.setattr(_device.mx, "is_available", lambda d: False)
    with pytest.warns(UserWarning, match=r"\[use_gpu\] MLX has no GPU"):
        assert ms.use_gpu() == mx.cpu
    assert mx.default_device() == mx.cpu


def test_metal_families_compiled_use_gpu_chooses_the_gpu(metal_build, monkeypatch):
    monkeypatch.setattr(_ext, "metal_compile_all", lambda: {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ms.use_gpu() == mx.gpu
    assert metal_build == [mx.gpu]


def test_metal_family_failing_warns_once_naming_it_and_keeps_the_cpu(metal_build, monkeypatch):
    calls = []

    def compile_all():
        calls.append(1)
        return {"spmm": "[spmm] ...", "fill": "[fill] Metal could not compile ... error: x"}

    monkeypatch.setattr(_ext, "metal_compile_all", compile_all)
    with pytest.warns(UserWarning) as record:
        assert ms.use_gpu() == mx.cpu
    assert len(record) == 1
    message = str(record[0].message)
    assert "fill, spmm" in message and "staying on the CPU" in message and "error: x" in message
    assert calls == [1]
    assert metal_build == [mx.cpu]


def test_cuda_build_does_not_compile_metal(metal_build, monkeypatch):
    monkeypatch.setattr(_ext, "gpu_backend", lambda: "cuda")
    monkeypatch.setattr(_ext, "metal_compile_all", lambda: pytest.fail("compiled Metal on CUDA"))
    assert ms.use_gpu() == mx.gpu


def test_main_reports_the_gpu_backend_and_the_metal_families(metal_build, monkeypatch):
    from mlx_sparse.__main__ import gpu_report

    monkeypatch.setattr(_ext, "metal_compile_all", lambda: {})
    assert gpu_report() == "GPU backend: metal, every kernel family compiled"
    monkeypatch.setattr(_ext, "metal_compile_all", lambda: {"sddmm": "[sddmm] diagnostic"})
    report = gpu_report()
    assert "did NOT compile: sddmm" in report and "[sddmm] diagnostic" in report
    monkeypatch.setattr(_ext, "gpu_backend", lambda: None)
    assert gpu_report() == "GPU backend: none in this build (CPU only)"
