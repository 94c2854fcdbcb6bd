"""Other solvers' results: the CalculiX ``.frd`` reader against the values CalculiX
prints in its ``.dat`` file for the same run, and the matching of a file's nodes to a
case's mesh (by numbering, by coordinates, and the errors)."""

import os
import subprocess

import numpy as np
import pytest
from test_calculix import (
    CCX,
    J2_SEGMENTS,
    J2_TABLE,
    NU,
    R0,
    E,
    H,
    _num,
    _read_dat,
    _times,
    _write_inp,
)

from rom import RomError
from rom.io.frd import read_frd
from rom.io.results import NodalResults, match_nodes
from rom.meshgen import box_mesh

ccx_needed = pytest.mark.skipif(CCX is None, reason="CalculiX (ccx) is not on PATH")


def _ccx_bending_j2(folder, keyword="*NODE FILE"):
    """CalculiX's J2 cantilever of ``tests/test_calculix.py``, with the displacements
    also in the .frd file (``*NODE FILE``: ASCII; ``*NODE OUTPUT``: binary data
    records); returns the mesh data."""
    data = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.2)
    inp = os.path.join(folder, "ccx.inp")
    _write_inp(inp, data, ["*ELASTIC", f"{_num(E)}, {_num(NU)}",
                           "*PLASTIC, HARDENING=ISOTROPIC", f"{_num(R0)}, 0.",
                           f"{_num(R0 + H)}, 1."],
               "*STATIC, DIRECT", J2_SEGMENTS, "bending", 12.0, J2_TABLE)
    with open(inp) as f:
        text = f.read()
    with open(inp, "w") as f:
        f.write(text.replace("*NODE PRINT, NSET=NALL\nU\n",
                             f"*NODE PRINT, NSET=NALL\nU\n{keyword}\nU\n"))
    env = dict(os.environ, OMP_NUM_THREADS="1", CCX_NPROC_EQUATION_SOLVER="1",
               CCX_NPROC_STIFFNESS="1", CCX_NPROC_RESULTS="1")
    r = subprocess.run([CCX, "-i", "ccx"], cwd=folder, capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0 and "*ERROR" not in r.stdout, r.stdout[-3000:] + r.stderr
    return data


@ccx_needed
@pytest.mark.parametrize("keyword", ["*NODE FILE", "*NODE OUTPUT"], ids=["ascii", "binary"])
def test_frd_displacements_equal_the_printed_ones(keyword, tmp_path):
    data = _ccx_bending_j2(str(tmp_path), keyword)
    with open(tmp_path / "ccx.frd", "rb") as f:
        binary = b"\x00" in f.read()
    assert binary == (keyword == "*NODE OUTPUT")
    res = read_frd(str(tmp_path / "ccx.frd"))
    printed = _read_dat(str(tmp_path / "ccx.dat"), len(data.points))
    assert np.allclose(res.times, _times(J2_SEGMENTS), atol=1e-9)
    # CalculiX numbers the nodes of the deck 1..n; the .frd prints 5 significant digits
    assert np.abs(res.points - data.points[res.node_ids - 1]).max() <= 5.01e-6 * 4.0
    order = match_nodes(res, data.points)
    assert np.array_equal(res.node_ids[order], np.arange(1, len(data.points) + 1))
    for k, t in enumerate(res.times):
        u = printed[min(printed, key=lambda s: abs(s - t))]
        scale = np.abs(u).max()
        assert np.abs(res.displacement[k][order] - u).max() <= 1e-5 * scale, t
    assert res.temperature is None
    # the test means something: plastic bending, a large residual displacement at the end
    assert np.abs(res.displacement[-1]).max() > 0.1 * np.abs(res.displacement).max()


@ccx_needed
def test_damaged_frd_files_are_reported(tmp_path):
    _ccx_bending_j2(str(tmp_path))
    with open(tmp_path / "ccx.frd", "rb") as f:
        text = f.read()
    cut = tmp_path / "cut.frd"
    cut.write_bytes(text[: len(text) // 2])
    with pytest.raises(RomError, match="truncated"):
        read_frd(str(cut))
    bad = tmp_path / "bad.frd"
    i = text.index(b"\n -1", text.index(b" 100C")) + 1
    bad.write_bytes(text[:i] + b" -1    1 garbage" + text[text.index(b"\n", i):])
    with pytest.raises(RomError, match=r"bad\.frd, line \d+: cannot read"):
        read_frd(str(bad))
    with pytest.raises(RomError, match="not found"):
        read_frd(str(tmp_path / "missing.frd"))


def _results(points, ids):
    k = 2
    return NodalResults(source="f.frd", node_ids=np.asarray(ids), points=points,
                        times=np.arange(k, dtype=float),
                        displacement=np.zeros((k, len(ids), 3)))


def test_nodes_match_by_numbering_or_by_coordinates():
    rng = np.random.default_rng(3)
    pts = rng.random((50, 3)) * 10
    assert np.array_equal(match_nodes(_results(pts, np.arange(1, 51)), pts), np.arange(50))
    perm = rng.permutation(50)
    # other numbers, another order, coordinates rounded as a file prints them
    res = _results(np.round(pts[perm], 6), 1000 + perm * 7)
    order = match_nodes(res, pts)
    assert np.array_equal(perm[order], np.arange(50))
    moved = res.points.copy()
    moved[[4, 9]] += 0.5
    with pytest.raises(RomError, match="2 of 50 mesh nodes have no node of the file"):
        match_nodes(_results(moved, res.node_ids), pts)
    with pytest.raises(RomError, match="49 nodes for a mesh of 50"):
        match_nodes(_results(pts[:49], np.arange(1, 50)), pts)
    with pytest.raises(RomError, match="inconsistent sizes"):
        NodalResults(source="f", node_ids=np.arange(3), points=np.zeros((3, 3)),
                     times=np.zeros(2), displacement=np.zeros((2, 4, 3)))
    with pytest.raises(RomError, match="not finite"):
        NodalResults(source="f", node_ids=np.arange(1), points=np.full((1, 3), np.nan),
                     times=np.zeros(1), displacement=np.zeros((1, 1, 3)))


def _snapshot_results(path):
    """A run's snapshot file as imported results (nodes numbered 1..n in its order)."""
    import h5py

    from rom.snapshots import read_snapshots

    snap = read_snapshots(path, ("U",), qp_fields=("sigma", "p"))
    with h5py.File(path, "r") as f:
        points = f["mesh/points"][...]
    n = len(points)
    return snap, NodalResults(source=path, node_ids=np.arange(1, n + 1), points=points,
                              times=snap["time"], displacement=snap["U"])


@pytest.mark.mpi
def test_replay_of_a_run_gives_its_stresses_and_internal_variables(tmp_path, comm):
    """Replaying our own Chaboche run's displacements (a two-cycle, non-proportional
    history with a temperature that varies in time and space) gives back its stresses
    and cumulated plasticity to round-off, and equilibrium to the Newton tolerance."""
    from test_hf import CHABOCHE, CYCLE

    from helpers import solve, write_case
    from rom.replay import replay
    from rom.snapshots import read_snapshots

    data = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.15)
    case = write_case(tmp_path, data, CYCLE, material=CHABOCHE)
    hf = solve(case, comm, tmp_path / "hf")
    assert all(h["substeps"] == 1 for h in hf["history"])
    snap, imported = _snapshot_results(comm.bcast(str(tmp_path / "hf" / "snapshots.h5")))
    out = replay(case, imported, comm, str(tmp_path / "replay"), log=None)
    rep = read_snapshots(out["path"], ("U",), qp_fields=("sigma", "p"))
    assert np.array_equal(rep["time"], snap["time"]) and out["substeps"] == [1] * 16
    for name in ("qp/sigma", "qp/p"):
        scale = np.abs(snap[name]).max()
        assert np.abs(rep[name] - snap[name]).max() <= 1e-9 * scale, name
    assert snap["qp/p"].max() > 1e-4  # inelastic: a fifth of the elastic strain (1e-3)
    # the Newton test's scale also has the step's first residual (here up to 3x the
    # forces, when the temperature jumps), which a replay does not know: hence 10 rtol
    assert max(out["residuals"]) <= 10 * case.solver.rtol
    # a displacement history off equilibrium shows in the residual
    imported.displacement[5] *= 1.01
    bad = replay(case, imported, comm, str(tmp_path / "off"), log=None)
    assert bad["residuals"][5] > 1e-3 and max(bad["residuals"][:5]) <= 10 * case.solver.rtol


@ccx_needed
def test_calculix_run_imported_and_replayed_gives_our_stresses(tmp_path):
    """``run.py import`` of CalculiX's J2 cantilever (its .frd), replayed through the
    same law on the same mesh on 2 ranks: the stresses and cumulated plasticity of
    our own HF run of that case, to the precision of the .frd's printed
    displacements, and a small equilibrium residual."""
    from mpi4py import MPI
    from test_calculix import LOAD_CASES

    from conftest import run_cli
    from helpers import solve, write_case
    from rom.snapshots import read_snapshots

    data = _ccx_bending_j2(str(tmp_path))
    fixed = "".join(f'[[dirichlet]]\nset = "{g}"\ncomponents = ["{c}"]\nvalue = 0.0\n'
                    for g, c in LOAD_CASES["bending"]["fixed"])
    times = ", ".join(repr(float(t)) for t in _times(J2_SEGMENTS))
    body = (fixed + f'[[pressure]]\nset = "zmax"\nvalue = 12.0\n'
            f"table = {[list(map(float, row)) for row in J2_TABLE]}\n"
            f"[steps]\ntimes = [{times}]\n"
            '[solver]\nlinear_solver = "mumps"\nrtol = 1e-10\n')
    material = (f'[material]\nlaw = "j2"\nE = {E}\nnu = {NU}\nR0 = {R0}\nH = {H}\n'
                "Hk = 0.0\n")
    case = write_case(tmp_path, data, body, material=material)
    solve(case, MPI.COMM_SELF, tmp_path / "ours")
    r = run_cli(["import", case.path, "--from", str(tmp_path / "ccx.frd"), "--out",
                 str(tmp_path / "imported")], n=2)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "equilibrium residual of the replayed stresses" in r.stdout
    ours = read_snapshots(str(tmp_path / "ours" / "snapshots.h5"), ("U",), ("sigma", "p"))
    imp = read_snapshots(str(tmp_path / "imported" / "snapshots.h5"), ("U",),
                         ("sigma", "p"))
    assert np.allclose(imp["time"], ours["time"])
    peak = int(np.argmin(np.abs(ours["time"] - 1.0)))  # the largest load
    assert ours["qp/p"][peak].max() > R0 / E  # yielded
    for name, tol in (("qp/sigma", 1e-3), ("qp/p", 1e-2)):
        scale = np.abs(ours[name]).max()
        assert np.abs(imp[name] - ours[name]).max() <= tol * scale, name
    # the imported run trains a ROM as an HF run would: the ROM replays it
    from rom.offline import build_rom
    from rom.online import open_for_case, run_online

    rom = str(tmp_path / "rom.h5")
    build_rom(case, [str(tmp_path / "imported" / "snapshots.h5")], MPI.COMM_SELF, rom,
              log=None)
    out = run_online(open_for_case(rom, case)[0], case)
    U = np.array([out["model"].displacement(g) for g in out["gamma"]])
    # (to the POD's truncation, eps_u = 1e-4 in the mass norm: measured 1.1e-4 in l2)
    assert np.linalg.norm(U - imp["U"]) <= 3 * case.rom.eps_u * np.linalg.norm(imp["U"])
    with pytest.raises(AssertionError):  # the comparison can fail: another law
        other = material.replace(f"R0 = {R0}", f"R0 = {0.9 * R0}")
        case2 = write_case(tmp_path / "other", data, body, material=other)
        r2 = run_cli(["import", case2.path, "--from", str(tmp_path / "ccx.frd"), "--out",
                      str(tmp_path / "other_out")])
        assert r2.returncode == 0
        imp2 = read_snapshots(str(tmp_path / "other_out" / "snapshots.h5"), ("U",), ("p",))
        assert np.abs(imp2["qp/p"] - ours["qp/p"]).max() <= 1e-2 * np.abs(ours["qp/p"]).max()


@pytest.mark.mpi
def test_replay_splits_an_increment_whose_local_integration_fails(tmp_path, monkeypatch,
                                                                 comm):
    """A law whose integration fails on increments longer than half a step: the replay
    integrates that step in 2 sub-increments (close to the whole step's result), and
    one that always fails ends with an error naming the time."""
    from test_hf import CHABOCHE, CYCLE

    import rom.materials
    from helpers import solve, write_case
    from rom.replay import replay
    from rom.snapshots import read_snapshots

    data = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.15)
    case = write_case(tmp_path, data, CYCLE, material=CHABOCHE)
    solve(case, comm, tmp_path / "hf")
    snap, imported = _snapshot_results(comm.bcast(str(tmp_path / "hf" / "snapshots.h5")))
    make_law = rom.materials.make_law

    def failing(limit):
        def make(*args, **kwargs):
            law = make_law(*args, **kwargs)
            update = law.update

            def checked(eps, state_old, T, dt, **kw):
                sigma, C, state, ok = update(eps, state_old, T, dt, **kw)
                return sigma, C, state, ok & (dt <= limit)
            law.update = checked
            return law
        return make

    monkeypatch.setattr(rom.materials, "make_law", failing(0.2))  # steps are 0.25 long
    out = replay(case, imported, comm, str(tmp_path / "split"), log=None)
    assert out["substeps"] == [2] * 16
    rep = read_snapshots(out["path"], ("U",), qp_fields=("sigma", "p"))
    # half steps change the time discretization of the viscoplastic law: the split
    # replay is nearer to an HF run with half steps than the whole-step run is
    half = write_case(tmp_path / "half", data, CYCLE.replace("count = 8", "count = 16"),
                      material=CHABOCHE)
    solve(half, comm, tmp_path / "half" / "hf")
    fine = read_snapshots(comm.bcast(str(tmp_path / "half" / "hf" / "snapshots.h5")),
                          ("U",), qp_fields=("sigma", "p"))
    assert np.allclose(fine["time"][1::2], rep["time"])
    for name in ("qp/sigma", "qp/p"):
        ref = fine[name][1::2]
        d_split = np.abs(rep[name] - ref).max()
        d_whole = np.abs(snap[name] - ref).max()
        assert d_split < 0.5 * d_whole, (name, d_split, d_whole)
    monkeypatch.setattr(rom.materials, "make_law", failing(0.0))
    with pytest.raises(RomError, match=r"to t = 0.25 even in 64 sub-increments"):
        replay(case, imported, comm, str(tmp_path / "never"), log=None)


# CalculiX's C3D20 integration points in this project's order: ours run over the
# Gauss abscissae (xi, eta, zeta) with zeta fastest, CalculiX's with xi fastest
CCX_C3D20_POINTS = np.arange(27).reshape(3, 3, 3).transpose(2, 1, 0).ravel()


def _ccx_peeq(path, n_cells):
    """``(n_times, n_cells * 27)`` cumulated plastic strain of the ``*EL PRINT`` PEEQ
    blocks of a CalculiX ``.dat`` file, in this project's integration point order."""
    out = []
    with open(path) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        i += 1
        if not lines[i - 1].lstrip().startswith("equivalent plastic strain"):
            continue
        p = np.full((n_cells, 27), np.nan)
        while not lines[i].strip():
            i += 1
        while i < len(lines) and lines[i].strip():
            e, ip, v = lines[i].split()
            p[int(e) - 1, int(ip) - 1] = float(v)
            i += 1
        out.append(p[:, CCX_C3D20_POINTS].ravel())
    assert out and np.isfinite(out).all(), path
    return np.array(out)


def _l2(a, b):
    """Relative L2 difference over all steps, ``|a - b| / |b|``."""
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


@ccx_needed
def test_rom_built_from_calculix_runs_predicts_a_held_out_level(tmp_path):
    """The worked example ``cases/calculix.toml``: CalculiX runs a hot, loaded
    cantilever (J2, temperature-dependent yield) at three temperature levels; the
    pipeline on 2 ranks builds the ROM from the low and high runs only (their
    displacements, replayed through the case's law) and predicts the mid level.
    Measured (serial run): the ROM reproduces the low run to 3.2e-5 (U, relative L2
    over all steps; the case's eps_u is 1e-5) and predicts the mid level within 1.3e-4
    (U) and 3.9e-3 (p) of CalculiX's own run (targets 1e-4, 5e-3, 3e-2); the replayed p
    of a CalculiX run is CalculiX's PEEQ to 2.1e-6 of its peak."""
    import importlib.util
    import shutil

    from conftest import ROOT, run_cli
    from rom.case import load_case
    from rom.online import open_for_case, run_online
    from rom.snapshots import read_snapshots

    spec = importlib.util.spec_from_file_location(
        "make_runs", os.path.join(ROOT, "cases", "calculix", "make_runs.py"))
    make_runs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_runs)
    make_runs.make_runs(str(tmp_path / "calculix"))
    shutil.copy(os.path.join(ROOT, "cases", "calculix.toml"), tmp_path)
    case = load_case(str(tmp_path / "calculix.toml"))
    ccx = {k: read_frd(str(tmp_path / "calculix" / f"{k}.frd")) for k in make_runs.LEVELS}
    # the decks and the case describe the same temperatures (CalculiX's NT output)
    for name, res in ccx.items():
        expr = case.loadings[name][0].expression
        from rom.mesh import evaluate_expression

        T = [evaluate_expression(expr, res.points, extra={"t": t}) for t in res.times]
        assert np.allclose(res.temperature, T, atol=1e-4 * np.abs(T).max()), name

    r = run_cli(["pipeline", str(tmp_path / "calculix.toml")], n=2, cwd=str(tmp_path),
                timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = tmp_path / "results" / "calculix"
    assert "another solver's run" in (out / "report.md").read_text()
    n_cells = 32
    peeq = {k: _ccx_peeq(str(tmp_path / "calculix" / f"{k}.dat"), n_cells) for k in ccx}
    assert peeq["mid"].max() > 2 * case.material_params()["R0"][0][1] / 2e5  # yielded
    # the replay of CalculiX's displacements gives CalculiX's plastic strains
    mid = read_snapshots(str(out / "import_mid" / "snapshots.h5"), ("U",), ("p",))
    assert np.abs(mid["qp/p"] - peeq["mid"]).max() <= 1e-4 * peeq["mid"].max()

    def u_ccx(name):  # CalculiX's displacements in the mesh's node order
        order = match_nodes(ccx[name], read_snapshots(
            str(out / f"import_{name}" / "snapshots.h5"))["points"])
        return ccx[name].displacement[:, order]

    # a training run reproduced by the ROM alone
    low = case.with_loading("low")
    on = run_online(open_for_case(str(out / "rom.h5"), low)[0], low)
    U = np.array([on["model"].displacement(g) for g in on["gamma"]])
    assert _l2(U, u_ccx("low")) <= 1e-4
    # the held-out level predicted (the pipeline's online run) against CalculiX's run
    pred = read_snapshots(str(out / "online_mid" / "online.h5"), ("U",), ("p",))
    assert np.allclose(pred["time"], ccx["mid"].times)
    assert _l2(pred["U"], u_ccx("mid")) <= 5e-3
    assert _l2(pred["qp/p"], peeq["mid"]) <= 3e-2
    with pytest.raises(AssertionError):  # the check can fail: the low level is not mid
        assert _l2(pred["U"], u_ccx("low")) <= 5e-3


def test_case_entries_naming_other_solvers_results(tmp_path):
    """``[rom] training`` tables and ``[rom.results]``: parsed into the case's results
    (paths relative to the case file), and the mistakes named; a reference run whose
    steps are not the case's is refused by the pipeline before any comparison."""
    import h5py

    from rom.case import parse_case
    from rom.pipeline import _other_times
    from rom.sources import ImportedRun, imported_runs

    head = ('[mesh]\nfile = "m.msh"\n[material]\nlaw = "elastic"\nE = 1.0\nnu = 0.3\n'
            '[steps]\ntimes = [1.0, 2.0]\n[loadings.a]\nvalue = 20.0\n'
            '[loadings.b]\nvalue = 30.0\n')
    path = str(tmp_path / "c.toml")
    case = parse_case(head + '[rom]\ntraining = ["a", {loading = "b", results = "r/b.frd"}]'
                      '\ntest = "a"\n[rom.results]\na = {file = "r/a.pvd", format = "vtu"}\n',
                      path)
    assert case.rom.training == ("a", "b")
    assert imported_runs(case) == {
        "b": ImportedRun("b", str(tmp_path / "r" / "b.frd"), None),
        "a": ImportedRun("a", str(tmp_path / "r" / "a.pvd"), "vtu")}
    for rom, message in (
            ('training = "a"', "'training' must be a list"),
            ('training = [5]', "'training' must list loading names"),
            ('training = [{loading = "a", results = "x.frd"}, {loading = "a", results = '
             '"y.frd"}]', "given twice"),
            ('training = [{loading = "a"}]', "missing key 'results'"),
            ('training = [{loading = "c", results = "x.frd"}]', "unknown loading 'c'"),
            ('training = [{loading = "a", results = "x.frd", format = "odb"}]',
             "unknown result format 'odb'"),
            ('results = "x.frd"', "'results' must be a table"),
            ('[rom.results]\na = {file = "x.frd", fromat = "frd"}', "unknown key")):
        with pytest.raises(RomError, match=message):
            parse_case(head + "[rom]\n" + rom + "\n", path)
    ref = str(tmp_path / "ref.h5")
    with h5py.File(ref, "w") as f:
        f["time"] = [1.0, 2.0]
    assert _other_times(ref, case, imported_runs(case)["a"]) is None
    with h5py.File(ref, "w") as f:
        f["time"] = [0.5, 1.0, 1.5, 2.0]
    assert "has 4 step(s)" in _other_times(ref, case, imported_runs(case)["a"])
