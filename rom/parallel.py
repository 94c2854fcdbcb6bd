"""The communicator of a command: MPI's ``COMM_WORLD`` when the process was started by
an MPI launcher (``mpirun``, ``mpiexec``, ``srun``) or the command needs PETSc, and
otherwise a :class:`SerialComm`, so that a serial command without PETSc (the online
run) does not pay for ``MPI_Init``: a singleton Open MPI start-up takes 0.3 s, more
than a whole reduced run of the cube.
"""

import os

__all__ = ["SerialComm", "launched_by_mpi", "world", "SERIAL_COMMANDS"]

# environment variables set by the process managers of Open MPI, MPICH/Hydra, PMIx and
# PMI (Slurm's srun sets the last ones)
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK",
                      "PMIX_NAMESPACE", "MPI_LOCALNRANKS")

# run.py commands that never create PETSc objects
SERIAL_COMMANDS = ("online",)


def launched_by_mpi(environ=None):
    """True when an MPI process manager started this process."""
    environ = os.environ if environ is None else environ
    return any(v in environ for v in LAUNCHER_VARIABLES)


def world(command=None, environ=None):
    """The communicator for ``command`` (a run.py command name): a :class:`SerialComm`
    when it is one of :data:`SERIAL_COMMANDS` and no MPI launcher started the process;
    ``MPI.COMM_WORLD`` otherwise."""
    if command in SERIAL_COMMANDS and not launched_by_mpi(environ):
        return SerialComm()
    from mpi4py import MPI

    return MPI.COMM_WORLD


class SerialComm:
    """A one-process stand-in for an mpi4py communicator: the object (lower-case)
    collectives this package calls on the paths of :data:`SERIAL_COMMANDS`, with
    mpi4py's results for a communicator of size 1. Anything else (buffer collectives,
    PETSc objects) needs the real ``MPI.COMM_SELF``."""

    rank = 0
    size = 1

    def bcast(self, obj, root=0):
        return obj

    def allgather(self, obj):
        return [obj]

    def gather(self, obj, root=0):
        return [obj]

    def allreduce(self, obj, op=None):
        return obj

    def alltoall(self, objs):
        return list(objs)

    def Barrier(self):
        pass

    barrier = Barrier

    def Abort(self, errorcode=1):
        os._exit(errorcode)
