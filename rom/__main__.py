"""The ``rom`` command (installed with the package, ``[options.entry_points]`` of
setup.cfg), ``python -m rom`` and ``python run.py``: the same subcommands
(:mod:`rom.cli`), serially or under ``mpirun -n N rom ...``.

The only place besides the tests and the case scripts that takes ``MPI.COMM_WORLD``
(through :func:`rom.parallel.world`). An error on any rank prints its message and
aborts the whole MPI job, never hangs (:func:`rom.parallel.guarded`).
"""

import sys


def main(argv=None):
    """Run the subcommand ``argv`` (default: the process's arguments); the exit code."""
    from rom import cli
    from rom.parallel import guarded, world

    argv = sys.argv[1:] if argv is None else list(argv)
    # MPI's COMM_WORLD, or a serial stand-in for a command without PETSc started
    # without mpirun (no MPI_Init: rom.parallel)
    comm = world(argv[0] if argv else None)
    return guarded(lambda: cli.main(argv, comm), comm)


if __name__ == "__main__":
    sys.exit(main())
