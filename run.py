#!/usr/bin/env python3
"""Command-line entry point: ``python run.py <command> ...`` (also under mpirun), the
same as the installed ``rom`` command and ``python -m rom`` (:mod:`rom.__main__`)."""

import sys

from rom.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
