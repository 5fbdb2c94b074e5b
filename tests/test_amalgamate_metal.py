"""scripts/amalgamate_metal.py, which writes the Metal sources a Mac compiles at run time: each
family self-contained (quoted includes inlined, a #pragma once header once), system includes
kept, ASCII only, and split into literals that join back exactly. MLX's kernel headers are
stood in for by two small files (the real ones come from the mlx-metal wheel in
scripts/check_metal.sh, which also type-checks the result)."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("amalgamate_metal", ROOT / "scripts/amalgamate_metal.py")
amalgamate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(amalgamate)
FAMILIES = sorted(p.stem for p in (ROOT / "metal").glob("*.metal"))


@pytest.fixture
def mlx_include(tmp_path):
    kernels = tmp_path / "mlx/backend/metal/kernels"
    kernels.mkdir(parents=True)
    (kernels / "bf16.h").write_text("// Copyright \u00a9 Apple\n#pragma once\n#include <metal_stdlib>\n")
    (kernels / "defines.h").write_text("#pragma once\n#define instantiate_kernel(n, f, ...)\n")
    return tmp_path


@pytest.mark.parametrize("family", FAMILIES)
def test_family_is_self_contained(family, mlx_include):
    src = amalgamate.family_source(ROOT / f"metal/{family}.metal", [mlx_include])
    assert src.isascii()
    assert not re.search(r'^\s*#\s*include\s*"', src, re.M)
    assert not re.search(r"^\s*#\s*pragma\s+once", src, re.M)
    assert "#include <metal_stdlib>" in src
    # common.h (#pragma once) is reached through several headers but inlined once
    assert src.count('#line 1 "mlx_sparse/metal/common.h"') == 1
    assert src.count('#line 1 "mlx/backend/metal/kernels/bf16.h"') == 1
    assert "// Copyright ? Apple" in src


def test_chunks_join_back_and_stay_small():
    source = "".join(f"line {i} " + "x" * (i % 300) + "\n" for i in range(2000))
    parts = amalgamate.chunks(source)
    assert "".join(parts) == source
    assert len(parts) > 1 and all(len(p) <= amalgamate.CHUNK for p in parts)


def test_non_ascii_outside_a_comment_is_refused(tmp_path):
    bad = tmp_path / "bad.metal"
    bad.write_text('constant char* s = "\u00e9";\n')
    with pytest.raises(SystemExit, match="non-ASCII outside a comment"):
        amalgamate.family_source(bad, [tmp_path])


def test_generated_file_has_every_family(tmp_path, mlx_include):
    out = tmp_path / "metal_sources.cpp"
    amalgamate.main(str(out), [str(mlx_include)])
    text = out.read_text()
    for family in FAMILIES:
        assert f'{{"{family}", {family}_chunks, ' in text
    assert f"const int kFamilyCount = {len(FAMILIES)};" in text
