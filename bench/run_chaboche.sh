#!/usr/bin/env bash
# One Chaboche time step on a ~100k-dof tet10 cube, serial then 2 ranks (see
# bench/chaboche_step.py); prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
N=${N:-16}
$PY bench/chaboche_step.py --n "$N"
mpirun -n 2 $PY bench/chaboche_step.py --n "$N"
