"""mlx_sparse.linalg: solvers, preconditioners and eigenvalues, as scipy.sparse.linalg.

==========================  ================================================================
``cg``                      conjugate gradients (symmetric positive definite A)
``bicgstab``                BiCGSTAB (general A)
``gmres``                   restarted GMRES (general A)
``minres``                  MINRES (symmetric, possibly indefinite A)
``LinearOperator``          a matrix known by its products; ``aslinearoperator``
``jacobi``                  diagonal preconditioner
``ilu0``, ``ichol0``        incomplete LU / Cholesky with A's pattern
``spsolve``                 direct solve (CPU, SuperLU)
``splu``, ``factorized``    LU factorisation and a solver from it (CPU, SuperLU)
``spsolve_triangular``      triangular solve
``eigsh``                   k extreme eigenpairs of a symmetric A (Lanczos)
``svds``                    k largest singular triplets (Lanczos)
``norm``                    matrix norms (Frobenius, 1, inf) and vector norms of rows/columns
==========================  ================================================================

The iterative solvers are lazy MLX graphs that run on the default device, syncing with the
host once per chunk of iterations. Solves are differentiable by the implicit rule: for
``x = A^-1 b``, ``b_bar = A^-T x_bar`` and ``A_bar = -sddmm(pattern, b_bar, x)``.
"""

from ._direct import SuperLU, factorized, splu, spsolve, spsolve_triangular
from ._eigen import eigsh, svds
from ._gmres import gmres
from ._iterative import bicgstab, cg, minres
from ._norm import norm
from ._operator import LinearOperator, aslinearoperator
from ._precond import ichol0, ilu0, jacobi

__all__ = ["cg", "bicgstab", "gmres", "minres", "LinearOperator", "aslinearoperator",
           "jacobi", "ilu0", "ichol0", "spsolve", "splu", "factorized", "SuperLU",
           "spsolve_triangular", "eigsh", "svds", "norm"]
