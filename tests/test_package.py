"""The installed package as a newcomer meets it: its name and version, what `import *` brings,
the error when MLX has no library (plain `mlx` on Linux), and the extension's stubs."""

import ast
import builtins
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import mlx_sparse as ms


def test_version_is_the_distribution_version():
    # pyproject reads the version from mlx_sparse/_version.py: one source for both
    try:
        installed = metadata.version("mlx-csr")
    except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH (the GPU machine's run)
        pytest.skip("mlx_sparse is not installed as a distribution here")
    assert ms.__version__ == installed


def test_star_import_shadows_no_builtin():
    assert set(ms.__all__).isdisjoint(dir(builtins))
    namespace = {}
    exec("from mlx_sparse import *", namespace)
    assert not set(namespace).intersection(dir(builtins)) - {"__builtins__"}
    assert callable(ms.sum)  # still reachable under its module


def test_import_without_mlx_library_names_the_fix(tmp_path):
    """A fake `mlx` whose `core` fails as plain mlx's does on Linux (no libmlx.so)."""
    fake = tmp_path / "fake" / "mlx"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "core.py").write_text(
        'raise ImportError("libmlx.so: cannot open shared object file: No such file or directory")\n')
    # the fake first on the path (kept: a PYTHONPATH that finds mlx_sparse, as on the GPU
    # machine); cwd outside the checkout, so the installed mlx_sparse is imported
    path = [str(fake.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    run = subprocess.run([sys.executable, "-c", "import mlx_sparse"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: [mlx_sparse] MLX cannot be loaded (libmlx.so: cannot open")
    assert 'pip install "mlx-csr[cpu]"' in last
    assert "pip install mlx-cuda-13==" in last


def test_extension_stub_beside_the_module_names_every_op():
    stub = Path(ms._ext.__file__).with_name("_ext.pyi")
    assert stub.is_file(), f"no stub at {stub}"
    tree = ast.parse(stub.read_text())
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    public = {name for name in dir(ms._ext) if not name.startswith("_")}
    assert public <= defined, public - defined
    assert {"csr_spmm", "csr_spgemm", "RowLengths"} <= defined
    assert Path(ms.__file__).with_name("py.typed").is_file()
