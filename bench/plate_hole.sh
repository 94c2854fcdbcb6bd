#!/bin/sh
# The plate_hole pipeline from scratch (BENCHMARKS.md, per-case table), 2 ranks.
#   PY=.venv/bin/python bench/plate_hole.sh
set -e
PY=${PY:-.venv/bin/python}
rm -rf bench/out/plate_hole
mpirun -n 2 "$PY" run.py pipeline cases/plate_hole.toml --out bench/out/plate_hole
