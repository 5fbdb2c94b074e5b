"""The installed package as a newcomer meets it: its name and version."""

from importlib import metadata

import mlx_sparse as ms


def test_version_is_the_distribution_version():
    # pyproject reads the version from mlx_sparse/_version.py: one source for both
    assert ms.__version__ == metadata.version("mlx-csr")
