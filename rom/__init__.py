"""Reduced-order modeling of nonlinear structural mechanics.

Stages (one module or subpackage each): ``mesh`` (read, sets, partition),
``fem`` (elements, quadrature, vectorized kernels), ``materials`` (constitutive
laws), ``loads``, ``assembly`` (PETSc), ``hf`` (high-fidelity solver), ``io``
(meshio, HDF5 and XDMF), ``cli`` (subcommands of ``run.py``).

Units are the user's, consistently: the default cases use mm, MPa, s, tonne/mm^3
and degrees Celsius.
"""

import os

__version__ = "0.1.0"

PETSC_DIR_DEFAULT = "/usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real"
os.environ.setdefault("PETSC_DIR", PETSC_DIR_DEFAULT)


class RomError(Exception):
    """An error in the user's input or data, reported without a traceback."""


def check_stack():
    """Import the scientific stack and print its versions (used by ``make setup``)."""
    import h5py
    import meshio
    import mpi4py
    import numpy
    import scipy

    from rom.petsc import PETSc

    print(
        "stack ok: numpy %s, scipy %s, h5py %s, meshio %s, mpi4py %s, PETSc %s"
        % (numpy.__version__, scipy.__version__, h5py.__version__, meshio.__version__,
           mpi4py.__version__, ".".join(map(str, PETSc.Sys.getVersion())))
    )
