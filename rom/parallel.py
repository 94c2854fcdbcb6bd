"""The communicator of a command: MPI's ``COMM_WORLD`` when the process was started by
an MPI launcher (``mpirun``, ``mpiexec``, ``srun``) or the command needs PETSc, and
otherwise a :class:`SerialComm`, so that a serial command without PETSc (the online
run) does not pay for ``MPI_Init``: a singleton Open MPI start-up takes 0.3 s, more
than a whole reduced run of the cube.
"""

import os
import sys
import time
import traceback

__all__ = ["SerialComm", "launched_by_mpi", "world", "SERIAL_COMMANDS", "guarded",
           "GRACE"]

GRACE = 5.0  # seconds a rank other than 0 waits for rank 0 to report the same error

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


def _fail(comm, message, code=1):
    """Print ``message`` (once per job) and end the job with exit code ``code``; nothing
    here, not even a failing write to stderr, can skip the abort."""
    try:
        if comm.size > 1 and comm.rank != 0:
            time.sleep(GRACE)  # rank 0, failing on the same error, aborts us meanwhile
            message = f"[rank {comm.rank} of {comm.size}] {message}"
        if message:
            print(message, file=sys.stderr, flush=True)
    except BaseException:  # noqa: BLE001, S110 - the abort below matters more
        pass
    finally:
        if comm.size > 1:
            comm.Abort(code)


def guarded(fn, comm):
    """``fn()``'s return value; an error on any rank prints its message and aborts the
    whole MPI job, never hangs (``run.py`` and the case scripts run under mpirun).

    ``MPI_Abort`` is called *inside* the ``except`` clause, while the exception and its
    traceback still hold every open object, so no collective operation (closing a
    parallel HDF5 file, destroying a PETSc object) runs on the error path. The message
    is printed once: by rank 0 at once; by another rank only if rank 0 has not aborted
    the job within :data:`GRACE` seconds (an error raised on every rank is then shown
    once, an error raised on one rank only is still shown). A :class:`rom.RomError`
    prints as ``error: <message>``, anything else with its traceback. Serially the
    function returns 1 (2 for a command-line error) after printing."""
    from rom import RomError

    try:
        return fn()
    except RomError as exc:
        _fail(comm, f"error: {exc}")
    except SystemExit as exc:  # argparse's -h
        if exc.code in (0, None):
            return 0
        _fail(comm, "", code=2)
        return 2
    except BaseException:  # noqa: BLE001 - report anything, then abort every rank
        _fail(comm, f"unexpected error:\n{traceback.format_exc()}")
    return 1


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
