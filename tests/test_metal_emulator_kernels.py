"""scripts/metal_emulator_kernels.py, which prepares metal/*.metal for the Metal emulator:
threadgroup storage declarations become statics (pointers stay), and each kernel template gets
an adapter from its signature; anything it cannot map stops it with the place and the reason.
(The C++ side runs in tests/test_metal_emulator.py.)"""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location(
    "metal_emulator_kernels", ROOT / "scripts/metal_emulator_kernels.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

KERNEL = """
template <typename T, typename I>
[[kernel]] void k(
    device const I* a [[buffer(0)]], device T* out [[buffer(1)]],
    constant Args& args [[buffer(2)]], uint3 gid [[thread_position_in_grid]],
    uint group [[threadgroup_position_in_grid]], uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float sums[32]; // threadgroup memory
  threadgroup I carry;
  threadgroup float* p = reinterpret_cast<threadgroup float*>(sums);
}
"""


def test_storage_becomes_static_and_pointers_stay():
    out = gen.transform(KERNEL, "k.metal")
    assert "static float sums[32]; ms_emu::threadgroup_storage(&sums, sizeof(sums));" in out
    assert "static I carry; ms_emu::threadgroup_storage(&carry, sizeof(carry));" in out
    assert "threadgroup float* p = reinterpret_cast<threadgroup float*>(sums);" in out
    assert "// threadgroup memory" in out
    assert out.count("\n") == KERNEL.count("\n")  # diagnostics keep their line numbers


@pytest.mark.parametrize("line", ["threadgroup float x = 0.0f;", "threadgroup float f();",
                                  "threadgroup int a, b;"])
def test_other_threadgroup_uses_stop_it(line):
    with pytest.raises(SystemExit, match=r"k\.metal:3: `threadgroup` is neither"):
        gen.transform(f"void f() {{\n  int y;\n  {line}\n}}\n", "k.metal")


def test_adapter_binds_buffers_and_positions():
    tu = gen.registry_tu("k", KERNEL)
    assert "template <typename T, typename I>\nvoid ms_emu_adapter_k(" in tu
    assert "inline constexpr size_t ms_emu_buffers_k = 3;" in tu
    call = tu[tu.index("  k<T, I>("):]
    args = [a.strip() for a in call[call.index("(") + 1:call.index(");")].split(",\n")]
    assert args == ["static_cast<const I*>(args[0])", "static_cast<T*>(args[1])",
                    "*static_cast<const Args*>(args[2])", "t.thread_position_in_grid",
                    "uint(t.threadgroup_position_in_grid.x)", "uint(t.thread_index_in_simdgroup)"]
    assert tu.index('#include "kernels_end.h"') < tu.index("  k<T, I>(")


@pytest.mark.parametrize("change, message", [
    ("uint lane [[thread_index_in_simdgroup]]", None),
    ("uint3 lane [[thread_index_in_simdgroup]]", "as 'uint3'"),
    ("uint lane", "parameter without an attribute"),
    ("uint lane [[thread_execution_width]]", "unknown attribute"),
    ("uint lane [[buffer(4)]]", "buffer parameter neither pointer nor reference"),
    ("device int* lane [[buffer(4)]]", r"buffer indices \[0, 1, 2, 4\]"),
    ("device int* lane [[buffer(1)]]", r"\[\[buffer\(1\)\]\] bound twice"),
])
def test_unmappable_signatures_stop_it(change, message):
    text = KERNEL.replace("uint lane [[thread_index_in_simdgroup]]", change)
    if message is None:
        gen.registry_tu("k", text)
        return
    with pytest.raises(SystemExit, match=r"k\.metal:3 \(k\): .*" + message):
        gen.registry_tu("k", text)


def test_kernels_must_be_templates():
    with pytest.raises(SystemExit, match="not a template"):
        gen.registry_tu("k", KERNEL.replace("template <typename T, typename I>", ""))


@pytest.mark.parametrize("family", sorted(p.stem for p in (ROOT / "metal").glob("*.metal")))
def test_every_family_maps(family):
    text = (ROOT / "metal" / f"{family}.metal").read_text()
    tu = gen.registry_tu(family, text)
    kernels = len(re.findall(r"\[\[kernel\]\]", gen.code_only(text)))
    assert kernels > 0 and tu.count("void ms_emu_adapter_") == 2 * kernels
    gen.transform(text, f"{family}.metal")
