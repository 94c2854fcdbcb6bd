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


def agree(comm, fn, *args, **kwargs):
    """Collective. ``fn(*args, **kwargs)`` on every rank, its :class:`RomError` made
    collective: if it raises on any rank, every rank raises the first failing rank's
    message (so that no rank goes on into a collective operation the failing one never
    reaches). ``fn`` itself must not call collective operations.
    """
    try:
        out, err = fn(*args, **kwargs), None
    except RomError as exc:
        out, err = None, str(exc)
    errors = [e for e in comm.allgather(err) if e]
    if errors:
        raise RomError(errors[0])
    return out


def mpi_op(name):
    """The MPI reduction operation ``name`` (``"MAX"``, ``"LOR"``...), imported on
    use (this package imports mpi4py only where it communicates)."""
    from mpi4py import MPI

    return getattr(MPI, name)


def inject_fault(where, comm):
    """Raise a :class:`RomError` on this rank if the environment variable
    ``ROM_INJECT_FAULT`` is ``"<where>@<rank>"`` or ``"<where>@*"`` (tests of the error
    path: an error raised on one rank only, or on every rank, at a named point of a
    run)."""
    if os.environ.get("ROM_INJECT_FAULT") in (f"{where}@{comm.rank}", f"{where}@*"):
        raise RomError(f"fault injected at {where} on rank {comm.rank} (ROM_INJECT_FAULT)")


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
