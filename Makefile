# One-command set-up: every target bootstraps what it needs, idempotently.
#   make demo    the blade pipeline (thermal fields, HF training runs, ROM, online and
#                adaptive runs, report with ParaView pictures) on 2 ranks
#   make test    serial test suite, then the MPI tests under mpirun -n 2
#   make bench   benchmarks (see BENCHMARKS.md)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
NP ?= 2
PETSC_DIR ?= /usr/lib/petscdir/petsc3.18/x86_64-linux-gnu-real
export PETSC_DIR
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
export OMPI_MCA_rmaps_base_oversubscribe := 1
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
MPIRUN := mpirun -n $(NP)
DEB_PACKAGES := python3-petsc4py python3-mpi4py python3-h5py-mpi python3-meshio \
	python3-scipy python3-matplotlib python3-tqdm python3-venv python3-pip openmpi-bin
# only for `make test`: CalculiX, the independent reference of tests/test_calculix.py
TEST_PACKAGES := calculix-ccx
# only for `make bench`: the DOLFINx peer and GNU time (peak memory)
BENCH_PACKAGES := python3-dolfinx time
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test test-serial test-mpi test-paraview paraview bench lint clean

setup: $(VENV)/.installed

# Debian packages: installed only when one is missing.
define install_missing
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
		| grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

.deb-packages: Makefile
	$(call install_missing,$(DEB_PACKAGES))
	@touch $@

.deb-test: .deb-packages
	$(call install_missing,$(TEST_PACKAGES))
	@touch $@

.deb-bench: .deb-packages
	$(call install_missing,$(BENCH_PACKAGES))
	@touch $@

$(VENV)/.installed: .deb-packages setup.cfg pyproject.toml
	@[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	@# petsc4py is found through PETSC_DIR: set it for every use of the venv
	@echo "import os; os.environ.setdefault('PETSC_DIR', '$(PETSC_DIR)')" > \
		$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/00-petsc-dir.pth
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	$(PY) -m pip install -q "pytest>=7" "ruff>=0.4" "gmsh>=4.11"
	$(PY) -c "import rom; rom.check_stack()"
	@touch $@

# the turbine blade's S mesh (gmsh, from the venv)
meshes/blade_S.msh: meshes/make_blade.py | setup
	$(PY) meshes/make_blade.py --preset S --out $@

# the CalculiX runs of the nonintrusive example cases/calculix.toml (decks and results)
CALCULIX_RUNS := cases/calculix/beam.inp cases/calculix/low.frd cases/calculix/mid.frd \
	cases/calculix/high.frd
$(CALCULIX_RUNS) &: cases/calculix/make_runs.py rom/meshgen.py | setup .deb-test
	$(PY) cases/calculix/make_runs.py

demo: setup paraview meshes/blade_S.msh
	$(MPIRUN) $(PY) run.py pipeline cases/blade.toml

test: test-serial test-mpi

test-serial: setup .deb-test meshes/blade_S.msh $(CALCULIX_RUNS)
	$(PY) -m pytest -q --color=no tests

test-mpi: setup
	timeout 1200 $(MPIRUN) tests/mpi_pytest.sh $(PY) -m pytest -q -m mpi -p no:cacheprovider --color=no tests

# optional: ParaView and a virtual X server, for `run.py render` (large)
paraview: setup
	$(call install_missing,paraview xvfb)

# optional: the ParaView check of the XDMF outputs and of `run.py render`
test-paraview: paraview
	$(PY) -m pytest -q --color=no tests/test_paraview.py

bench: setup .deb-bench
	$(PY) bench/run_linear.py
	PY=$(PY) bench/run_chaboche.sh
	$(PY) bench/offline_bench.py
	$(PY) bench/offline_bench.py --memory --block-mb 256
	$(PY) bench/scale.py
	$(PY) bench/online_startup.py
	$(PY) bench/online_scaling.py --sizes 6 12
	$(PY) bench/adaptive_cycles.py --n 12 --cycles 5
	$(PY) bench/adaptive_checks.py --n 6
	PY=$(PY) bench/plate_hole.sh
	$(PY) bench/blade_thermal.py
	$(PY) bench/blade_solver.py

lint: setup
	$(VENV)/bin/ruff check rom tests bench cases run.py

clean:
	rm -rf $(VENV) .deb-packages .deb-test .deb-bench results build *.egg-info bench/out
	cd cases/calculix && rm -f beam.inp low.* mid.* high.* spooles.out
