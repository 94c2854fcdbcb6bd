"""Single place where petsc4py is initialised; import ``PETSc`` from here."""

import os
import sys

os.environ.setdefault("PETSC_DIR", "/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real")
_path = os.path.join(os.environ["PETSC_DIR"], "lib", "python3", "dist-packages")
if os.path.isdir(_path) and _path not in sys.path:
    sys.path.append(_path)

import petsc4py  # noqa: E402

petsc4py.init([sys.argv[0]])
from petsc4py import PETSc  # noqa: E402


def _restore_mmap():
    """PETSc's initialization (a library it loads) sets glibc's ``M_MMAP_MAX`` to 0:
    every large numpy array then lives in the heap, and the process keeps what it frees
    there (measured: 450 MB of the temporaries of a 1M-dof mesh generation stayed
    resident, and PETSc's matrices were allocated beside them). Restore glibc's
    default, so that large arrays are mapped and given back when freed."""
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-4, 65536)  # M_MMAP_MAX, glibc's default
    except (OSError, AttributeError):  # not glibc
        pass


_restore_mmap()

__all__ = ["PETSc"]
