"""Sphinx configuration. Build: python -m sphinx -W --keep-going -b html docs docs/_build/html"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import mlx_sparse  # noqa: E402

project = "mlx_sparse"
author = "mlx_sparse developers"
release = version = mlx_sparse.__version__
copyright = "2026, mlx_sparse developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
    "benchtables",
    "apicheck",
]

# notebooks/ is linked into docs/; the README there is for GitHub readers, not the site
exclude_patterns = ["_build", "notebooks/README.md", "**/.ipynb_checkpoints"]
templates_path = ["_templates"]

# Notebooks are rendered with the outputs committed to them; CI executes them separately.
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"member-order": "bysource"}
# numpydoc's own member tables would need a stub page per dict method CSRArray inherits
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"mlx_sparse {release}"
