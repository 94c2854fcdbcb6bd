#!/usr/bin/env python3
"""Command-line entry point: ``python run.py <command> ...`` (also under mpirun).

The only place besides the tests and the case scripts that takes ``MPI.COMM_WORLD``
(through :func:`rom.parallel.world`). An error on any rank prints its message and
aborts the whole MPI job, never hangs (:func:`rom.parallel.guarded`).
"""

import sys


def main():
    from rom import cli
    from rom.parallel import guarded, world

    # MPI's COMM_WORLD, or a serial stand-in for a command without PETSc started
    # without mpirun (no MPI_Init: rom.parallel)
    comm = world(sys.argv[1] if len(sys.argv) > 1 else None)
    return guarded(lambda: cli.main(sys.argv[1:], comm), comm)


if __name__ == "__main__":
    sys.exit(main())
