#!/usr/bin/env python3
"""Command-line entry point: ``python run.py <command> ...`` (also under mpirun).

The only place besides the tests that takes ``MPI.COMM_WORLD`` (through
:func:`rom.parallel.world`). An error on any
rank prints its message and aborts the whole MPI job, never hangs: ``MPI_Abort`` is
called *inside* the ``except`` clause, while the exception and its traceback still
hold every open object, so no collective operation (closing a parallel HDF5 file,
destroying a PETSc object) runs on the error path. The message is printed once:
by rank 0 at once; by another rank only if rank 0 has not aborted the job within
:data:`GRACE` seconds (an error raised on every rank is then shown once, an error
raised on one rank only is still shown).
"""

import sys
import time
import traceback

GRACE = 5.0  # seconds a rank other than 0 waits for rank 0 to report the same error


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


def main():
    import rom
    from rom import cli
    from rom.parallel import world

    # MPI's COMM_WORLD, or a serial stand-in for a command without PETSc started
    # without mpirun (no MPI_Init: rom.parallel)
    comm = world(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        return cli.main(sys.argv[1:], comm)
    except rom.RomError as exc:
        _fail(comm, f"error: {exc}")
    except SystemExit as exc:  # argparse's -h
        if exc.code in (0, None):
            return 0
        _fail(comm, "", code=2)
        return 2
    except BaseException:  # noqa: BLE001 - report anything, then abort every rank
        _fail(comm, f"unexpected error:\n{traceback.format_exc()}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
