"""A dictionary of local ROMs (rom.dictionary): one cluster is the global ROM, two
regimes give two smaller ROMs, the right one chosen per loading, and the pipeline
reports it."""

import json
import os
from dataclasses import replace

import h5py
import numpy as np
import pytest

from helpers import ISOSTATIC_X0, solve, write_case
from rom.meshgen import box_mesh
from rom.offline import build_rom
from rom.online import open_for_case, run_online
from rom.snapshots import read_snapshots

# a cube on isostatic supports pulled on x = 1, J2 with a yield stress falling with the
# temperature; two regimes of temperature fields: "cold" ones growing along x, "hot"
# ones along y (each a family of levels of one shape); held-out levels "_t"
LOADINGS = {"cold_a": "20 + 250 * x * x * t", "cold_b": "20 + 325 * x * x * t",
            "cold_c": "20 + 400 * x * x * t", "cold_t": "20 + 290 * x * x * t",
            "hot_a": "20 + 550 * y * y * t", "hot_b": "20 + 650 * y * y * t",
            "hot_c": "20 + 750 * y * y * t", "hot_t": "20 + 700 * y * y * t"}
TRAINING = ["cold_a", "cold_b", "cold_c", "hot_a", "hot_b", "hot_c"]
MATERIAL = ('[material]\nlaw = "j2"\nE = 200000.0\nnu = 0.3\nalpha = 1.2e-5\n'
            'T_ref = 20.0\nR0 = [[20.0, 160.0], [700.0, 40.0]]\nH = 2000.0\n')


def two_regime_case(folder, n=4, steps=8, rom="", comm=None, loadings=LOADINGS):
    body = (ISOSTATIC_X0 + '[sets.pulled]\nkind = "faces"\nwhere = "x == 1"\n'
            '[[pressure]]\nset = "pulled"\nvalue = 150.0\ntable = [[0.0, 0.0], [1.0, 1.0]]\n'
            + "".join(f'[loadings.{k}]\nexpression = "{v}"\n' for k, v in loadings.items())
            + f"[steps]\nend = 1.0\ncount = {steps}\n"
            '[solver]\nlinear_solver = "mumps"\nrtol = 1e-9\n[rom]\n' + rom)
    return write_case(folder, box_mesh((n, n, n), (1.0, 1.0, 1.0), "hexahedron20"), body,
                      material=MATERIAL, comm=comm)


def _datasets(path):
    """Every dataset and attribute of an HDF5 file but the build's date and timings."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[...]
            for k, v in obj.attrs.items():
                if k != "created" and not k.startswith("time_"):
                    out[f"{name}@{k}"] = v
        f.visititems(visit)
        for k, v in f.attrs.items():
            if k != "created":
                out[f"@{k}"] = v
    return out


# serial only: on 2 ranks two builds of the same ROM already differ by round-off,
# which can change a Q-DEIM pivot (a different Gappy row), so no content comparison
# holds there (the nondeterminism is recorded in the issue note)
def test_one_cluster_is_the_global_rom(tmp_path, comm):
    """``clusters = 1`` (and ``"auto"`` on one regime, where the criterion finds no
    saving) builds the global ROM: the same archive content, the same online run."""
    folder = comm.bcast(str(tmp_path), root=0)
    loadings = {k: v for k, v in LOADINGS.items() if k.startswith("hot")}
    case = two_regime_case(folder, n=3, steps=4, comm=comm, loadings=loadings)
    files = [solve(case.with_loading(k), comm, os.path.join(folder, k))["files"][0]
             for k in ("hot_a", "hot_c")]
    paths = {}
    for tag, clusters in (("global", None), ("one", 1), ("auto", "auto")):
        paths[tag] = os.path.join(folder, f"rom_{tag}.h5")
        c = replace(case, rom=replace(case.rom, clusters=clusters))
        s = build_rom(c, files, comm, paths[tag], log=None)
        assert s.get("clusters", 1) == 1
    # bit for bit serially; on 2 ranks two builds of the same ROM differ by round-off
    # (measured up to 4e-11 of the largest value, 1e-9 relative on the ECM residual: the
    # order of some parallel sums)
    def same(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if comm.size == 1 or a.dtype.kind not in "fc":
            return np.array_equal(a, b)
        return a.shape == b.shape and np.allclose(a, b, rtol=1e-8,
                                                  atol=1e-9 * max(np.abs(a).max(), 1e-300))

    if comm.rank == 0:
        ref = _datasets(paths["global"])
        for tag in ("one", "auto"):
            other = _datasets(paths[tag])
            assert other.keys() == ref.keys()
            for k, v in ref.items():
                assert same(other[k], v), (tag, k)
    c = case.with_loading("hot_t")
    gammas = [np.array(run_online(open_for_case(paths[tag], c)[0], c)["gamma"])
              for tag in ("global", "one")]
    assert same(gammas[0], gammas[1])


def test_local_roms_of_two_regimes(tmp_path):
    """Cold loadings (growing along x) and hot ones (along y): the a priori criterion
    recommends 2 clusters, k-medoids on the temperature signatures finds the two
    regimes, each member needs at least 30 % fewer modes than the global ROM, the
    selection picks the member of its regime for each held-out loading, and the
    dictionary's worst test error is not above the global ROM's. Measured (4^3 hex20,
    eps_u 1e-4): global 21 modes, 686 reduced points; members 11 and 13 modes, 181 and
    260 points; held-out errors (U, relative L2 over the steps) cold 1.25e-3 / hot
    2.8e-4 global, 1.21e-3 / 5.1e-4 local; online steps 3 to 4 times faster
    (BENCHMARKS.md, bench/local_bases.py)."""
    from mpi4py import MPI

    comm = MPI.COMM_SELF
    case = two_regime_case(str(tmp_path), rom='clusters = "auto"\n')
    files = {k: solve(case.with_loading(k), comm, tmp_path / k)["files"][0]
             for k in LOADINGS}
    train = [files[k] for k in TRAINING]
    glob = build_rom(replace(case, rom=replace(case.rom, clusters=None)), train, comm,
                     str(tmp_path / "global.h5"), log=None)
    local = build_rom(case, train, comm, str(tmp_path / "local.h5"), log=None)
    assert local["clusters"] == 2
    labels = dict(zip(local["loadings"], local["labels"]))
    assert len({labels[k] for k in TRAINING if k.startswith("cold")}) == 1
    assert len({labels[k] for k in TRAINING if k.startswith("hot")}) == 1
    assert labels["cold_a"] != labels["hot_a"]
    assert max(local["n_modes_members"]) <= 0.7 * glob["n_modes"], (
        local["n_modes_members"], glob["n_modes"])
    errors = {}
    for tag in ("global", "local"):
        for name in ("cold_t", "hot_t"):
            c = case.with_loading(name)
            archive = open_for_case(str(tmp_path / f"{tag}.h5"), c)[0]
            if tag == "local":  # the member of the loading's regime
                assert archive["member"] == labels[name.replace("_t", "_a")], name
                assert np.argmin(archive["selection"]) == archive["member"]
            out = run_online(archive, c)
            U = np.array([out["model"].displacement(g) for g in out["gamma"]])
            ref = read_snapshots(files[name], ("U",))["U"]
            errors[tag, name] = np.linalg.norm(U - ref) / np.linalg.norm(ref)
    worst = {tag: max(errors[tag, n] for n in ("cold_t", "hot_t")) for tag in ("global",
                                                                                "local")}
    assert worst["local"] <= worst["global"], errors
    with h5py.File(tmp_path / "local.h5", "r") as f:  # what selects a member online
        assert f.attrs["members"] == 2
        assert json.loads(f["clusters"].attrs["loadings"]) == TRAINING


@pytest.mark.mpi
def test_pipeline_with_local_roms_on_two_ranks(tmp_path, comm):
    """The pipeline of a two-regime case with ``clusters = 2`` on 2 ranks: the online
    run of the test loading selects the hot member, the report has the local bases'
    section, and a rerun finds the dictionary up to date."""
    from conftest import run_cli

    if comm.size > 1:
        pytest.skip("runs its own mpirun")
    loadings = {k: LOADINGS[k] for k in ("cold_a", "cold_c", "hot_a", "hot_c", "hot_t")}
    case = two_regime_case(str(tmp_path), n=3, steps=4, loadings=loadings,
                           rom='clusters = 2\ntraining = ["cold_a", "cold_c", "hot_a", '
                               '"hot_c"]\ntest = "hot_t"\n')
    r = run_cli(["pipeline", case.path, "--out", str(tmp_path / "out")], n=2,
                timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Local reduced bases" in report and "| hot_a, hot_c |" in report
    assert "Test loading hot_t: member" in report
    with h5py.File(tmp_path / "out" / "rom.h5", "r") as f:
        labels = f["clusters/labels"][...]
    hot = int(labels[2])
    assert f"Test loading hot_t: member {hot} selected" in report
    r2 = run_cli(["pipeline", case.path, "--out", str(tmp_path / "out")], n=2,
                 timeout=600)
    assert r2.returncode == 0 and "offline: up to date" in r2.stdout, r2.stdout[-2000:]


def test_selection_tells_levels_of_one_shape_apart(tmp_path):
    """Cold (elastic) and hot (plastic) loadings of the same shape at other levels,
    clustered apart by their trajectories: their temperature signatures have sine
    dissimilarity 0, and the selection tells them apart by the signatures' norms; a
    loading at the reference temperature goes to the coolest medoid."""
    from mpi4py import MPI

    loadings = {"cold_a": "20 + 40 * x * x * t", "cold_b": "20 + 60 * x * x * t",
                "cold_t": "20 + 50 * x * x * t", "hot_a": "20 + 650 * x * x * t",
                "hot_b": "20 + 750 * x * x * t", "hot_t": "20 + 700 * x * x * t",
                "rest": "20 + 0 * x"}
    case = two_regime_case(str(tmp_path), n=3, steps=4, loadings=loadings,
                           rom='clusters = 2\ncluster_by = "trajectory"\n'
                               'gappy = ["sigma", "p", "eps_vp", "X"]\n')
    train = ["cold_a", "cold_b", "hot_a", "hot_b"]
    files = [solve(case.with_loading(k), MPI.COMM_SELF, tmp_path / k)["files"][0]
             for k in train]
    s = build_rom(case, files, MPI.COMM_SELF, str(tmp_path / "rom.h5"), log=None)
    labels = dict(zip(s["loadings"], s["labels"]))
    assert labels["cold_a"] == labels["cold_b"] != labels["hot_a"] == labels["hot_b"]
    for name, regime in (("cold_t", "cold_a"), ("hot_t", "hot_a"), ("cold_a", "cold_a"),
                         ("hot_b", "hot_a"), ("rest", "cold_a")):
        archive = open_for_case(str(tmp_path / "rom.h5"), case.with_loading(name))[0]
        assert archive["member"] == labels[regime], (name, archive["selection"])
    # the adaptive ROM runs and enriches the selected member; saved, the dictionary
    # keeps its other member and its clustering; a study switches member per loading
    from rom.adaptive import adaptive_command
    from rom.api import Study
    from rom.archive import read_archive, read_clusters

    saved = str(tmp_path / "enriched.h5")
    ada = adaptive_command(case, str(tmp_path / "rom.h5"), MPI.COMM_SELF,
                           str(tmp_path / "ada"), "hot_t", tol=1e-3, save=saved, log=None)
    assert ada["n_enrichments"] > 0
    assert read_clusters(saved)["members"] == 2
    hot, cold = labels["hot_a"], labels["cold_a"]
    assert int(read_archive(saved, member=hot)["attrs"]["revision"]) == 1
    assert "revision" not in read_archive(saved, member=cold)["attrs"]
    a = read_archive(str(tmp_path / "rom.h5"), member=cold)
    b = read_archive(saved, member=cold)
    assert np.array_equal(a["basis"]["U"], b["basis"]["U"])
    assert open_for_case(saved, case.with_loading("hot_t"))[0]["member"] == hot
    study = Study(case, str(tmp_path / "rom.h5"), MPI.COMM_SELF, tol=1e-3)
    for name, regime in (("hot_t", hot), ("cold_t", cold), ("hot_b", hot)):
        study.run(case.with_loading(name))
        assert study.rom.archive["member"] == regime, name
    study.save(str(tmp_path / "study.h5"))
    assert read_clusters(str(tmp_path / "study.h5"))["members"] == 2
