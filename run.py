#!/usr/bin/env python3
"""Command-line entry point: ``python run.py <command> ...`` (also under mpirun).

The only place besides the tests that touches ``MPI.COMM_WORLD``. An error on any
rank prints its message and aborts the whole MPI job (no hang).
"""

import sys
import traceback


def main():
    from mpi4py import MPI

    import rom
    from rom import cli

    comm = MPI.COMM_WORLD
    prefix = f"[rank {comm.rank}] " if comm.size > 1 else ""
    try:
        return cli.main(sys.argv[1:], comm)
    except rom.RomError as exc:
        print(f"{prefix}error: {exc}", file=sys.stderr, flush=True)
    except SystemExit as exc:  # argparse
        if exc.code in (0, None):
            return 0
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - report anything, then abort every rank
        print(f"{prefix}unexpected error:\n{traceback.format_exc()}", file=sys.stderr,
              flush=True)
    if comm.size > 1:
        comm.Abort(1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
