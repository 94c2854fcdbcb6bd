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

__all__ = ["PETSc"]
