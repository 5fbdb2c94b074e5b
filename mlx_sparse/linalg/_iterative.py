"""Krylov solvers as MLX graphs: cg, bicgstab and minres (gmres is in _gmres.py).

Each iteration is lazy MLX ops. The host reads the state only between chunks of iterations
(1, 2, 4, ... up to CHUNK steps), so a GPU runs whole chunks without a sync; a step after
convergence is masked out with ``mx.where`` (it changes nothing and is not counted), so the
result and ``info`` are those of a per-iteration check. A ``callback`` is called after every
iteration, which costs one sync each. At the end the true residual ``||b - A x||`` is
measured: a recurrence that drifted is restarted from x, and ``info`` is 0 only when the
true residual meets ``max(rtol ||b||, atol)``.
"""

from __future__ import annotations

import warnings

import mlx.core as mx

from .. import _ext
from .._ops import _on_gpu
from ._common import SYSTEM_PARAMS, check_maxiter, prepare, tolerance, with_implicit_gradient
from ._operator import aslinearoperator

CHUNK = 32  # most iterations between two host syncs
# From this size on, a sparse A without M runs a compiled step (fused vector updates, about
# 1.3x per iteration at 1M unknowns on a CPU); below it, compiling costs more than it saves.
FUSE_MIN = 1 << 16
# When the true residual misses tol, the solve starts afresh from x (up to RESTARTS times). A
# recurrence that drifted from the true residual (float32) is cured by a fresh start to the
# same target; one that measures another norm (minres with M) needs a tighter target. So the
# starts tighten the target from the first that gains less than STALL on the best true
# residual; one that stalls again ends the solve (the precision's floor).
RESTARTS = 8
STALL = 0.9
BREAKDOWN = -10  # scipy's info when bicgstab's rho vanishes (-11: rhat . v or omega)


def _dot(u, v):
    return mx.sum(u * v)


def _safe(d):
    """d where it is nonzero, else 1: divisions masked out by a flag stay finite."""
    return mx.where(d != 0, d, mx.ones_like(d))


def _apply(M, v):
    return v if M is None else M(v)


def _preconditioner(M, n: int, dtype, op: str):
    """M as a function r -> M r in dtype; None stays None (the steps then skip it)."""
    if M is None:
        return None
    Mop = aslinearoperator(M)
    if Mop.shape != (n, n):
        raise ValueError(f"[{op}] M must have shape {(n, n)}, got {Mop.shape}")
    return lambda r: Mop.matvec(r).astype(dtype)


# ---- one step of each method: state -> state; the step runs where state["go"]

def _cg_init(A, M, b, x, tol2):
    r = b - A(x)
    z = _apply(M, r)
    rr = _dot(r, r)
    return {"x": x, "r": r, "p": z, "rz": rr if M is None else _dot(r, z), "go": rr > tol2,
            "broken": mx.array(0), "it": mx.array(0)}


def _cg_step(A, M, s, tol2):
    go, p = s["go"], s["p"]
    Ap = A(p)
    alpha = mx.where(go, s["rz"] / _safe(_dot(p, Ap)), 0)  # 0: x and r stay as they are
    x = s["x"] + alpha * p
    r = s["r"] - alpha * Ap
    z = _apply(M, r)
    rz = _dot(r, z)
    rr = rz if M is None else _dot(r, r)
    # p needs no mask: once go is off, alpha is 0 and p is never read again
    return {"x": x, "r": r, "p": z + (rz / _safe(s["rz"])) * p, "rz": mx.where(go, rz, s["rz"]),
            "go": go & (rr > tol2), "broken": s["broken"], "it": s["it"] + go}


class _CgState(dict):
    """The fused cg step's state: one array, [x | r | p | Ap | rz, go, it], which MLX can hand
    from step to step (updated in place); the keys of the other steps' states are views of
    it, made when read (after a chunk), so no view holds the buffer during one."""

    def __init__(self, state, n, broken):
        dict.__init__(self, state=state)
        self.n, self.broken = n, broken

    def __getitem__(self, key):
        st, n = dict.__getitem__(self, "state"), self.n
        views = {"x": lambda: st[:n], "r": lambda: st[n:2 * n], "p": lambda: st[2 * n:3 * n],
                 "rz": lambda: st[4 * n], "go": lambda: st[4 * n + 1] > 0,
                 "it": lambda: st[4 * n + 2].astype(mx.int32), "broken": lambda: self.broken,
                 "state": lambda: st}
        return views[key]()


def _fused_cg_step(csr, dtype):
    """_cg_step (without M) as one primitive on CPU streams, csr_cg_step: its vector updates
    and dot products in three passes over n instead of one per MLX op."""
    A = csr.with_data(mx.stop_gradient(csr.data).astype(dtype))
    A._check_structure("csr_cg_step")
    ip, ix, data, n = A.indptr, A.indices, A.data, A.shape[0]

    def step(Amv, M, s, tol2):
        if isinstance(s, _CgState):
            state = s["state"]
        else:  # the state _cg_init made: packed once per start
            tail = mx.stack([s["rz"], s["go"].astype(dtype), s["it"].astype(dtype)])
            state = mx.concatenate([s["x"], s["r"], s["p"], mx.zeros_like(s["x"]), tail])
        return _CgState(_ext.csr_cg_step(ip, ix, data, state, tol2), n, s["broken"])

    return step


def _bicgstab_init(A, M, b, x, tol2):
    r = b - A(x)
    zero, one = mx.zeros_like(r), mx.array(1, dtype=r.dtype)
    rr = _dot(r, r)
    return {"x": x, "r": r, "rhat": r, "p": zero, "v": zero, "rho": one, "alpha": one,
            "omega": one, "go": rr > tol2, "broken": mx.array(0), "it": mx.array(0)}


def _bicgstab_step(A, M, s, tol2):
    go, r = s["go"], s["r"]
    tiny = mx.finfo(r.dtype).eps ** 2  # scipy's breakdown thresholds
    rho = _dot(s["rhat"], r)
    beta = (rho / _safe(s["rho"])) * (s["alpha"] / _safe(s["omega"]))
    p = r + beta * (s["p"] - s["omega"] * s["v"])
    phat = _apply(M, p)
    v = A(phat)
    rv = _dot(s["rhat"], v)
    alpha = rho / _safe(rv)
    sv = r - alpha * v
    s_done = _dot(sv, sv) <= tol2  # converged half way: x += alpha phat is the answer
    shat = _apply(M, sv)
    t = A(shat)
    omega = mx.where(s_done, 0, _dot(t, sv) / _safe(_dot(t, t)))
    # scipy's codes: -10 when rho vanishes (nothing done), -11 when rhat . v does (nothing
    # done) or omega does (the half step is kept)
    code = mx.where(mx.abs(rho) < tiny, BREAKDOWN,
                    mx.where((rv == 0) | (~s_done & (mx.abs(omega) < tiny)), BREAKDOWN - 1, 0))
    ok = go & ((code == 0) | (code == BREAKDOWN - 1) & (rv != 0))
    x = mx.where(ok, s["x"] + alpha * phat + omega * shat, s["x"])
    r_new = sv - omega * t
    keep = lambda new, old: mx.where(ok, new, old)  # noqa: E731
    return {"x": x, "r": keep(r_new, r), "rhat": s["rhat"], "p": keep(p, s["p"]),
            "v": keep(v, s["v"]), "rho": keep(rho, s["rho"]), "alpha": keep(alpha, s["alpha"]),
            "omega": keep(omega, s["omega"]),
            "go": ok & (code == 0) & (_dot(r_new, r_new) > tol2),
            "broken": mx.where(go & (s["broken"] == 0), code, s["broken"]), "it": s["it"] + ok}


def _minres_init(A, M, b, x, tol2):
    """Paige and Saunders's MINRES (the recurrences of scipy's minres); phibar estimates the
    residual in the M^-1 norm, the 2-norm without M."""
    r1 = b - A(x)
    y = _apply(M, r1)
    beta1 = mx.sqrt(mx.maximum(_dot(r1, y), 0))
    zero, dt = mx.zeros_like(r1), r1.dtype
    scalar = lambda v: mx.array(v, dtype=dt)  # noqa: E731
    return {"x": x, "r1": r1, "r2": r1, "y": y, "w": zero, "w2": zero, "beta": beta1,
            "oldb": scalar(0), "dbar": scalar(0), "epsln": scalar(0), "phibar": beta1,
            "cs": scalar(-1), "sn": scalar(0), "go": beta1 * beta1 > tol2,
            "broken": mx.array(0), "it": mx.array(0)}


def _minres_step(A, M, s, tol2):
    go, beta = s["go"], s["beta"]
    v = s["y"] / _safe(beta)
    y = A(v)
    y = y - (beta / _safe(s["oldb"])) * s["r1"] * (s["oldb"] != 0)
    alfa = _dot(v, y)
    y = y - (alfa / _safe(beta)) * s["r2"]
    r1, r2 = s["r2"], y
    y = _apply(M, r2)
    oldb = beta
    beta = mx.sqrt(mx.maximum(_dot(r2, y), 0))
    oldeps = s["epsln"]
    delta = s["cs"] * s["dbar"] + s["sn"] * alfa
    gbar = s["sn"] * s["dbar"] - s["cs"] * alfa
    epsln = s["sn"] * beta
    dbar = -s["cs"] * beta
    gamma = mx.maximum(mx.sqrt(gbar * gbar + beta * beta), mx.finfo(v.dtype).eps)
    cs, sn = gbar / gamma, beta / gamma
    phi = cs * s["phibar"]
    phibar = sn * s["phibar"]
    w1, w2 = s["w2"], s["w"]
    w = (v - oldeps * w1 - delta * w2) / gamma
    keep = lambda new, old: mx.where(go, new, old)  # noqa: E731
    return {"x": keep(s["x"] + phi * w, s["x"]), "r1": keep(r1, s["r1"]), "r2": keep(r2, s["r2"]),
            "y": keep(y, s["y"]), "w": keep(w, s["w"]), "w2": keep(w2, s["w2"]),
            "beta": keep(beta, s["beta"]), "oldb": keep(oldb, s["oldb"]),
            "dbar": keep(dbar, s["dbar"]), "epsln": keep(epsln, s["epsln"]),
            "phibar": keep(phibar, s["phibar"]), "cs": keep(cs, s["cs"]), "sn": keep(sn, s["sn"]),
            # beta == 0: the Krylov space is invariant, x is exact
            "go": go & (phibar * phibar > tol2) & (beta > 0), "broken": s["broken"],
            "it": s["it"] + go}


# ---- the driver

def _run(init, step, A, M, b, x, tol, maxiter, callback, fuse=False):
    """(x, info): chunks of lazy steps, then the true residual's verdict. With ``fuse`` the
    step is mx.compile'd, which fuses its vector updates (only for A and M made of MLX ops:
    a step that reads values on the host cannot be traced)."""
    Amv = A.matvec
    plain = run_step = (lambda s, tol2: step(Amv, M, s, tol2))
    if fuse:
        run_step = mx.compile(plain)
    done = 0  # iterations of every start so far
    inner = tol  # the recurrence's target, tightened after a stalled start
    best, best_x, tighten = float("inf"), x, False
    for _ in range(RESTARTS + 1):
        tol2 = mx.array(inner * inner, dtype=b.dtype)
        s = init(Amv, M, b, x, tol2)
        mx.eval(s)
        base, chunk = done, 1
        while s["go"].item() and done < maxiter:
            k = 1 if callback is not None else min(chunk, maxiter - done)
            before = s
            try:
                for _ in range(k):
                    s = run_step(s, tol2)
                mx.eval(s)
            except Exception:  # mx.compile built no kernel (a CPU without a C++ compiler)
                if run_step is plain:
                    raise
                run_step, s = plain, before
                continue
            done = base + int(s["it"].item())
            chunk = min(2 * chunk, CHUNK)
            if callback is not None:
                callback(s["x"])
        x = s["x"]
        rnorm = float(mx.linalg.norm(b - Amv(x)).item())
        if rnorm <= tol:
            return x, 0
        if s["broken"].item():
            return x, int(s["broken"].item())
        if done == base < maxiter:  # the recurrence met its target at x already: tighten it
            inner *= min(0.1, tol / rnorm)
            tighten = True
            continue
        stalled = rnorm > STALL * best
        if rnorm < best:
            best, best_x = rnorm, x
        if (stalled and tighten) or done >= maxiter or s["go"].item():
            break
        tighten = tighten or stalled
        if tighten:
            inner *= min(0.5, tol / rnorm)
        x = best_x
    return best_x, max(done, 1)


def _solve(op, init, step, A, b, x0, rtol, atol, maxiter, M, callback, *, symmetric,
           default_maxiter):
    csr, Aop, b, x, dtype = prepare(A, b, x0, op)
    n = b.shape[0]
    maxiter = check_maxiter(maxiter, default_maxiter(n), op)
    tol = tolerance(b, rtol, atol, op)
    Mf = _preconditioner(M, n, dtype, op)
    fuse = csr is not None and M is None and n >= FUSE_MIN
    if step is _cg_step and csr is not None and M is None and not _on_gpu(None):
        step, fuse = _fused_cg_step(csr, dtype), False  # one C++ primitive per iteration
    xs, info = _run(init, step, Aop, Mf, mx.stop_gradient(b), x, tol, maxiter, callback, fuse)

    def adjoint_solve(v):
        At = Aop if symmetric else Aop.T
        Mt = M if (symmetric or M is None) else aslinearoperator(M).T
        y, adj_info = _run(init, step, At, _preconditioner(Mt, n, dtype, op), v.astype(dtype),
                           mx.zeros_like(v).astype(dtype), tolerance(v, rtol, atol, op),
                           maxiter, None, fuse)
        if adj_info != 0:
            warnings.warn(f"[{op}] the adjoint solve of the gradient did not converge "
                          f"(info={adj_info})", stacklevel=2)
        return y

    return with_implicit_gradient(csr, Aop, b, xs, adjoint_solve), info

_PARAMS = SYSTEM_PARAMS + """    maxiter : int, optional
        The most iterations (default {default}).
    M : sparse array, dense matrix or LinearOperator, optional
        A preconditioner approximating A^-1 (see :func:`jacobi`, :func:`ilu0`,
        :func:`ichol0`){mkind}.
    callback : callable, optional
        ``callback(xk)`` after each iteration (one host sync per iteration).

    Returns
    -------
    x : mx.array
        The solution, (n,); differentiable in b and in a sparse A's values by the implicit
        rule (one adjoint solve with the same settings).
    info : int
        0 when the true residual meets the tolerance, > 0 (the iterations done) when maxiter
        was reached{breakdown}.
    """


def cg(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None):
    """Solve ``A x = b`` by the conjugate gradient method, as ``scipy.sparse.linalg.cg``.
    """
    return _solve("cg", _cg_init, _cg_step, A, b, x0, rtol, atol, maxiter, M, callback,
                  symmetric=True, default_maxiter=lambda n: 10 * n)


def bicgstab(A, b, x0=None, *, rtol=1e-5, atol=0.0, maxiter=None, M=None, callback=None):
    """Solve ``A x = b`` by BiCGSTAB, as ``scipy.sparse.linalg.bicgstab``.
    """
    return _solve("bicgstab", _bicgstab_init, _bicgstab_step, A, b, x0, rtol, atol, maxiter, M,
                  callback, symmetric=False, default_maxiter=lambda n: 10 * n)


def minres(A, b, x0=None, *, shift=0.0, rtol=1e-5, atol=0.0, maxiter=None, M=None,
           callback=None):
    """Solve ``(A - shift I) x = b`` by MINRES, as ``scipy.sparse.linalg.minres``.

    ``shift`` moves the spectrum (the gradient is that of the shifted system). ``atol``,
    which scipy's minres lacks, is accepted as the other solvers take it.
    """
    if float(shift) != 0.0:
        A = _shifted(A, float(shift))
    return _solve("minres", _minres_init, _minres_step, A, b, x0, rtol, atol, maxiter, M,
                  callback, symmetric=True, default_maxiter=lambda n: 5 * n)


def _shifted(A, shift: float):
    """A - shift I: a CSRArray stays one (so its values keep their gradient)."""
    from .._graph import eye
    from ._operator import _as_csr

    csr = _as_csr(A)
    if csr is not None:
        if csr.shape[0] != csr.shape[1]:
            raise ValueError(f"[minres] A must be square, got shape {csr.shape}")
        return csr - eye(csr.shape[0], dtype=csr.dtype) * shift
    Aop = aslinearoperator(A)
    return type(Aop)(Aop.shape, lambda x: Aop.matvec(x) - shift * x,
                     None if Aop._rmatvec is None else (lambda y: Aop.rmatvec(y) - shift * y),
                     dtype=Aop.dtype)


cg.__doc__ += _PARAMS.format(kind=", symmetric positive definite", default="10 n",
                             mkind=", symmetric positive definite", breakdown="")
bicgstab.__doc__ += _PARAMS.format(kind="", default="10 n", mkind="",
                                   breakdown=(", scipy's -10 when rho vanishes, -11 when rhat . v or\n        omega does"))
minres.__doc__ += _PARAMS.format(kind=", symmetric (possibly indefinite)", default="5 n",
                                 mkind=", symmetric positive definite", breakdown="")
