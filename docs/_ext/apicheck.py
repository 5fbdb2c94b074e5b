"""Fail the docs build (a warning, an error under -W) when a public name has no API entry.

Public names are the ``__all__`` of mlx_sparse and of its public submodules (or, without
one, what the submodule defines under a name without a leading underscore); docs/api.rst
lists them. A name added to ``__all__`` without an entry there breaks the build on purpose.
"""

import importlib

from sphinx.util import logging

MODULES = ["mlx_sparse", "mlx_sparse.nn", "mlx_sparse.datasets", "mlx_sparse.models"]
logger = logging.getLogger(__name__)


def public_names():
    for modname in MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:  # a submodule that has not landed yet
            continue
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, obj in vars(mod).items()
                     if not n.startswith("_") and getattr(obj, "__module__", None) == modname]
        for name in names:
            yield f"{modname}.{name}"


def check(app, env):
    documented = env.get_domain("py").objects
    for full in public_names():
        if full not in documented:
            logger.warning("[apicheck] %s is public but has no entry in docs/api.rst", full)


def setup(app):
    app.connect("env-check-consistency", check)
    return {"parallel_read_safe": True}
