"""Saving and loading sparse arrays: MLX's files (``savez``, ``save_safetensors``, ``load``),
which may hold sparse arrays of every format beside dense arrays, and scipy's ``save_npz`` /
``load_npz`` format (CSRArrays).

A sparse array named ``w`` is stored as the arrays ``w.data``, ``w.indices``, ``w.indptr`` and
``w.shape`` (a COOArray's ``w.row`` and ``w.col`` instead of indices and indptr; a
BSRArray's blocksize is the shape of its ``data``' blocks), and listed under
its format in one more array, ``__mlx_sparse__`` (``{"csr": [names], "bsr": [names]}``, as
JSON bytes), so that ``load`` puts it back together: values keep their dtype, bfloat16
included, and the pattern travels with them.
"""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np

from ._base import SparseArray, _to_numpy
from ._bsr import BSRArray
from ._coo import COOArray
from ._csc import CSCArray
from ._csr import CSRArray

_FORMATS = {"csr": CSRArray, "bsr": BSRArray, "csc": CSCArray, "coo": COOArray}

_MANIFEST = "__mlx_sparse__"
_PARTS = ("data", "indices", "indptr", "shape")
_COO_PARTS = ("data", "row", "col", "shape")


def _parts(fmt: str) -> tuple:
    return _COO_PARTS if fmt == "coo" else _PARTS


def _flatten(arrays: dict) -> dict:
    flat, sparse = {}, {}
    for name, value in arrays.items():
        if name == _MANIFEST:
            raise ValueError(f"[save] the name {name!r} is reserved")
        if isinstance(value, SparseArray) and value.format in _FORMATS:
            sparse.setdefault(value.format, []).append(name)
            flat.update({f"{name}.{p}": getattr(value, p) for p in _parts(value.format)[:3]})
            flat[f"{name}.shape"] = mx.array(value.shape, dtype=mx.int64)
        elif isinstance(value, mx.array):
            flat[name] = value
        else:
            raise TypeError(f"[save] {name!r} must be an mx.array or a sparse array (CSRArray, CSCArray, COOArray, BSRArray), got {type(value).__name__}")
    clash = set(arrays) & {f"{s}.{p}" for fmt, names in sparse.items() for s in names for p in _parts(fmt)}
    if clash:
        raise ValueError(f"[save] the names {sorted(clash)} clash with a sparse array's parts")
    if sparse:
        flat[_MANIFEST] = mx.array(np.frombuffer(json.dumps(sparse).encode(), dtype=np.uint8))
    return flat


def _unflatten(flat: dict) -> dict:
    manifest = flat.pop(_MANIFEST, None)
    listed = {} if manifest is None else json.loads(bytes(np.asarray(manifest)).decode())
    unknown = set(listed) - set(_FORMATS)
    if unknown:
        raise ValueError(f"[load] the file lists sparse formats {sorted(unknown)} this version cannot read")
    out = {}
    for fmt, names in listed.items():
        cls = _FORMATS[fmt]
        for name in names:
            try:
                data, first, second, shape = (flat.pop(f"{name}.{p}") for p in _parts(fmt))
            except KeyError as e:
                raise ValueError(f"[load] the file lists {cls.__name__} {name!r} but lacks its part {e}") from None
            out[name] = cls(data, first, second, tuple(int(v) for v in np.asarray(shape)))
            out[name].check_format(full_check=True)
    out.update(flat)
    return out


def savez(file, *args, **kwargs):
    """``mx.savez``, where arrays may also be CSRArrays or BSRArrays (read back by :func:`load`)."""
    named = {f"arr_{i}": a for i, a in enumerate(args)}
    named.update(kwargs)
    mx.savez(file, **_flatten(named))


def save_safetensors(file, arrays: dict, metadata: dict | None = None):
    """``mx.save_safetensors``, where the dict's values may also be CSRArrays or BSRArrays (MLX's
    safetensors hold no float64: use :func:`savez` for those)."""
    flat = _flatten(arrays)
    wide = sorted(k for k, v in flat.items() if v.dtype == mx.float64)
    if wide:
        raise TypeError(f"[save_safetensors] MLX's safetensors files hold no float64 ({', '.join(wide)}); "
                        "use ms.savez, or astype(mx.float32) if that precision is enough")
    mx.save_safetensors(file, flat, metadata=metadata)


def load(file, *, return_metadata: bool = False):
    """``mx.load`` of a ``.npz`` or ``.safetensors`` file: a dict of names to mx.arrays and
    CSRArrays and BSRArrays (checked in full, as a file may come from anywhere)."""
    if return_metadata:
        flat, metadata = mx.load(file, return_metadata=True)
        return _unflatten(flat), metadata
    return _unflatten(mx.load(file))


def save_npz(file, A: CSRArray, compressed: bool = True):
    """Save A in ``scipy.sparse.save_npz``'s format, which ``scipy.sparse.load_npz`` reads
    (bfloat16 values, which numpy lacks, are stored as float32, exactly, and marked so that
    :func:`load_npz` restores them)."""
    if not isinstance(A, CSRArray):
        hint = " (A.tocsr() saves its entries; ms.savez keeps its blocks)" if isinstance(A, SparseArray) else ""
        raise TypeError(f"[save_npz] expected a CSRArray, got {type(A).__name__}{hint}")
    parts = dict(indices=np.asarray(A.indices), indptr=np.asarray(A.indptr), format=b"csr",
                 shape=np.array(A.shape), data=_to_numpy(A.data), _is_array=True)
    if A.dtype == mx.bfloat16:
        parts["mlx_dtype"] = "bfloat16"
    (np.savez_compressed if compressed else np.savez)(file, **parts)


def load_npz(file) -> CSRArray:
    """A CSRArray from a file of ``scipy.sparse.save_npz`` (CSR, CSC, COO, ...) or
    :func:`save_npz`; int64 indices stay int64."""
    import scipy.sparse as sp

    from ._construct import csr_array

    with np.load(file, allow_pickle=False) as f:
        dtype = str(f["mlx_dtype"]) if "mlx_dtype" in f.files else None
    if hasattr(file, "seek"):  # a file object: np.load has read it
        file.seek(0)
    S = sp.load_npz(file).tocsr()
    wide = S.indices.dtype == np.int64 and S.indptr.dtype == np.int64
    return csr_array(S, dtype=dtype, index_dtype="int64" if wide else None)
