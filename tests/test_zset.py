"""Z-set (Zebulon) files: the mesh, nodal and integration-point readers of
:mod:`rom.io.zset` against a Z-set run of the Mordicus project (``tests/data/zset``:
a cube of 216 ``c3d8``, 10 increments of an elastoviscoplastic law with a
temperature history), and the errors of damaged files.

* The stored displacements, turned into strains by the project's model, equal the
  stored ``eto`` at Z-set's integration points to float32 precision once the points
  are matched (``IP_TO_PROJECT``, the same in every cell) and the shear components
  read as tensor components.
* Replayed through the project's ``chaboche`` law (Z-set's ``gen_evp`` of the
  sample) with the Z-set temperature history, they give Z-set's cumulated
  plasticity ``evrcum`` and stresses at every time, to the precision of the stored
  float32 values and of Z-set's local integration (tolerance 1e-9): measured
  ``|p - evrcum| <= 1.6e-9`` (4.1e-7 of its largest value, 4.03e-3) and
  ``|sigma - sig| <= 5.3e-4`` MPa (6.5e-7 of the largest stress, 807 MPa), each
  increment in one piece (no sub-increment needed with Norton's n = 30 at these
  increments of 0.2 s).
* With the run's loads in a case (the pressure per face of the face set, the
  rotation), the replayed stresses equilibrate them to the float32 precision of the
  stored displacements; this project's HF run of that case gives Z-set's
  displacements, and a ROM built from the Z-set run alone reproduces them (numbers in
  :func:`test_rom_built_from_the_zset_run_reproduces_it`).

Small hand-written ``.geof`` files check the node orders element by element, meshes
of several element types (one cell block per type, element sets in the cells'
numbering), and the refusal of wedges and pyramids, whose Z-set node orders are not
established (:mod:`rom.io.zset`).
"""

import os
import shutil

import numpy as np
import pytest

from helpers import solve, write_case
from rom import RomError
from rom.fem import CellBasis, FaceBasis, get_element
from rom.io.meshfile import read_mesh_file
from rom.io.results import NodalResults
from rom.io.zset import (
    FACE_TYPES,
    IP_TO_PROJECT,
    REFUSED_TYPES,
    VOLUME_TYPES,
    read_geof,
    read_zset,
    read_zset_integ,
    read_zset_values,
    zset_to_mandel,
)
from rom.mesh import load_mesh

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "zset")
GEOF = os.path.join(DATA, "cube.geof")
UT = os.path.join(DATA, "cube.ut")
ETO = ["eto11", "eto22", "eto33", "eto12", "eto23", "eto31"]
SIG = ["sig11", "sig22", "sig33", "sig12", "sig23", "sig31"]

# the law of tests/data/zset/mat (gen_evp: Mises, Norton, nonlinear kinematic,
# constant isotropic), as the project's chaboche
ZSET_MATERIAL = """
[material]
law = "chaboche"
E = 200000.0
nu = 0.3
alpha = 2e-5
T_ref = 20.0
R0 = 10.0
K = 300.0
n = 30.0
C = 1e5
D = 1000.0
"""

# the input's temperature history (cube.inp, ***parameter): temperature1 at t = 0
# and 2, temperature2 at t = 1, linear in between; its constraints (**impose_nodal_dof)
ZSET_LOADING = """
[[temperature.fields]]
time = 0.0
file = "T1.npy"
[[temperature.fields]]
time = 1.0
file = "T2.npy"
[[temperature.fields]]
time = 2.0
file = "T1.npy"
[[dirichlet]]
set = "x0"
components = ["x"]
[[dirichlet]]
set = "x0y0"
components = ["y"]
[[dirichlet]]
set = "x0y1z1"
components = ["z"]
[steps]
end = 2.0
count = 10
"""


def test_geof_mesh_loads_with_its_sets(comm):
    data = read_mesh_file(GEOF)  # through the mesh-file entry point of case files
    assert (data.cell_type, data.n_nodes, data.n_cells) == ("hexahedron", 343, 216)
    assert data.file_node_ids.tolist() == list(range(343))
    x = data.points
    # node sets, element sets, face sets
    assert np.array_equal(data.node_set("x0"), np.flatnonzero(x[:, 0] == 0.0))
    assert data.node_set("center").tolist() == [171]
    assert np.allclose(x[171], 0.5)
    assert np.array_equal(data.cell_set("EVP"), np.arange(108))
    assert np.array_equal(data.cell_set("ELAS"), np.arange(108, 216))
    assert len(data.cell_set("domain000")) == len(data.cell_set("domain001")) == 108
    faces = data.element_groups["x1"]["faces"]
    assert list(faces) == ["quad"] and faces["quad"].shape == (36, 4)
    # in the set's order (the file's first and last faces: q4 7 14 63 56 ... q4 287
    # 294 343 336), on x = 1, with the outward normal +x
    assert faces["quad"][0].tolist() == [6, 13, 62, 55]
    assert faces["quad"][-1].tolist() == [286, 293, 342, 335]
    f = x[faces["quad"]]
    assert np.all(f[:, :, 0] == 1.0)
    normal = np.cross(f[:, 1] - f[:, 0], f[:, 3] - f[:, 0])
    assert np.all(normal[:, 0] > 0) and np.allclose(normal[:, 1:], 0.0)
    cells, _, conn = data.face_set("x1")  # boundary faces of the volume cells
    assert len(cells) == 36 and np.all(x[conn][:, :, 0] == 1.0)
    assert len(data.face_set("px0")[0]) == 16 and len(data.face_set("x0")[0]) == 36
    # distributed like any mesh (the case loader's path)
    mesh = load_mesh(GEOF, comm)
    assert mesh.n_cells_global == 216 and mesh.n_nodes_global == 343


def test_nodal_results_and_values(tmp_path):
    res = read_zset(UT)
    assert res.source == UT and res.temperature is None
    assert np.allclose(res.times, np.linspace(0.0, 2.0, 11))
    assert np.array_equal(res.node_ids, np.arange(1, 344))
    assert np.array_equal(res.points, read_geof(GEOF).points)
    assert res.displacement.shape == (11, 343, 3)
    assert np.all(res.displacement[0] == 0.0) and np.abs(res.displacement[-1]).max() > 1e-3
    # another choice of nodal variables (the reactions) comes from the same file
    ru = read_zset(UT, names=("RU1", "RU2", "RU3"))
    assert not np.allclose(ru.displacement, res.displacement)
    # a nodal temperature (here RU1 renamed TP in a copy of the header)
    ut = _copy_run(tmp_path)
    with open(ut) as f:
        text = f.read()
    _write(ut, text.replace("**node U1 U2 U3 RU1", "**node U1 U2 U3 TP"))
    with_T = read_zset(ut, temperature="TP")
    assert np.array_equal(with_T.temperature, ru.displacement[:, :, 0])
    assert np.array_equal(with_T.displacement, res.displacement)
    T1 = read_zset_values(os.path.join(DATA, "temperature1.node"), 343)
    T2 = read_zset_values(os.path.join(DATA, "temperature2.node"), 343)
    assert np.all(T1 == 20.0) and T2.min() > 38.0 and T2.max() == 400.0
    assert read_zset_values(os.path.join(DATA, "pressure.node"), 36).shape == (36,)
    integ = read_zset_integ(UT, ["evrcum", "eto11"])
    assert integ["evrcum"].shape == (11, 216, 8)
    p = integ["evrcum"]  # cumulated: never decreasing at a point; flowing from t = 0.4
    assert np.all(np.diff(p, axis=0) >= 0) and np.all(p[:2] == 0.0)
    assert np.all(np.diff(p.max(axis=(1, 2))[1:]) > 0) and 4.0e-3 < p.max() < 4.1e-3


@pytest.mark.mpi
def test_strains_of_the_displacements_are_zsets_eto(comm):
    """The project's strains of Z-set's displacements at the project's quadrature
    points are Z-set's ``eto`` at its integration points, point ``IP_TO_PROJECT`` ->
    q in every cell, shear components as tensor components."""
    from rom.hf import StructuralModel
    from rom.materials import make_law

    mesh = load_mesh(GEOF, comm)
    model = StructuralModel(mesh, make_law("elastic", {"E": 2e5, "nu": 0.3}))
    res = read_zset(UT)
    eto = read_zset_integ(UT, ETO)
    zset = np.stack([eto[n] for n in ETO], axis=-1)[:, mesh.cell_ids]  # (k, c, 8, 6)
    ours = np.stack([model.strain(u[mesh.node_ids].ravel()) for u in res.displacement])
    ours = ours.reshape(len(res.times), mesh.n_cells, 8, 6)
    zset_mandel = zset_to_mandel(zset)
    # float32: the stored strains, and the strains of the stored displacements (whose
    # rounding, 6e-8 of |u|, makes strain errors of that order over an element of
    # 1/6); measured 9.0e-10, 2.5e-7 of the largest strain
    tol = 1e-6 * np.abs(zset).max()
    # nearest Z-set point of each project point, in each cell: one permutation
    dist = np.abs(ours[:, :, :, None, :] - zset_mandel[:, :, None, :, :]).max(axis=(0, 4))
    nearest = dist.argmin(axis=2)  # (c, 8)
    assert np.all(nearest == IP_TO_PROJECT["c3d8"][None, :])
    err = np.abs(ours - zset_mandel[:, :, IP_TO_PROJECT["c3d8"]]).max()
    assert err <= tol
    # the shear convention: not 2 eps_12 (engineering) nor sqrt2 eps_12 (Mandel)
    for factor in (2.0, np.sqrt(2.0)):
        other = zset_mandel.copy()
        other[..., 3:] /= factor
        assert np.abs(ours - other[:, :, IP_TO_PROJECT["c3d8"]]).max() > 1e3 * tol
    assert np.abs(zset[..., 3:]).max() > 0.1 * np.abs(zset).max()  # shear is there


@pytest.mark.mpi
def test_replay_through_chaboche_gives_zsets_plasticity_and_stresses(tmp_path, comm):
    """Z-set's displacements replayed through the project's chaboche law with Z-set's
    temperature history (a case naming the .geof mesh) give Z-set's ``evrcum`` and
    ``sig`` at every time (bounds in the module docstring)."""
    from rom.replay import replay
    from rom.snapshots import read_snapshots

    shutil.copy(GEOF, tmp_path / "cube.geof")
    for k in (1, 2):
        np.save(tmp_path / f"T{k}.npy",
                read_zset_values(os.path.join(DATA, f"temperature{k}.node"), 343))
    case = write_case(tmp_path, None, ZSET_LOADING, name="zset", mesh_name="cube.geof",
                      material=ZSET_MATERIAL)
    res = read_zset(UT)
    assert res.times[0] == 0.0 and np.all(res.displacement[0] == 0.0)  # rest at t = 0
    res = NodalResults(source=res.source, node_ids=res.node_ids, points=res.points,
                       times=res.times[1:], displacement=res.displacement[1:])
    out = replay(case, res, comm, str(comm.bcast(tmp_path / "replay")), log=None)
    assert out["substeps"] == [1] * 10
    rep = read_snapshots(out["path"], ("U",), qp_fields=("p", "sigma"))
    assert np.allclose(rep["time"], res.times)
    integ = read_zset_integ(UT, ["evrcum"] + SIG + ETO)
    perm = IP_TO_PROJECT["c3d8"]
    evrcum = integ["evrcum"][1:][:, :, perm]
    sig = zset_to_mandel(np.stack([integ[n] for n in SIG], axis=-1))[1:][:, :, perm]
    p = rep["qp/p"].reshape(evrcum.shape)
    sigma = rep["qp/sigma"].reshape(sig.shape)
    assert evrcum.max() > 4e-3  # inelastic: p is more than the elastic strain
    # float32 rounding of the stored p (half a unit 2.3e-10 near 4e-3) and Z-set's
    # local tolerance 1e-9: measured 1.6e-9
    assert np.abs(p - evrcum).max() <= 1e-6 * evrcum.max()
    # p alone does not see the temperature (Mises, constants independent of T); the
    # stresses do (thermal strains up to 7.6e-3). Their bound: E times that of the
    # strains (test above), 7.3e-4 MPa; measured 5.3e-4
    eto_max = max(np.abs(integ[n]).max() for n in ETO)
    assert np.abs(sigma - sig).max() <= 2e5 * 1e-6 * eto_max


# the input's loads (cube.inp, ***bc and ***table), in this project's conventions:
# - "**pressure x1 file pressure.node pressure": one value per face of the face set x1
#   in its order (per = "face"), times the table (0, -100, -100 at t = 0, 0.1, 2); Z-set's
#   value v is a traction v n along the outward normal, this project's pressure -v
#   (positive pushes on the face): the table's values change sign
# - "**centrifugal ALL_ELEMENT (3.5 -20 1.5) d3 1.5e4 rotation": about the z axis
#   through (3.5, -20, 1.5), omega = 1.5e4 rotation(t) (rotation: 0, 1, 1 at t = 0, 1,
#   2), the force rho omega^2 r (the table scales omega), rho = masvol of mat
ZSET_LOADS = ZSET_LOADING + """
[[pressure]]
set = "x1"
file = "pressure.npy"
per = "face"
table = [[0.0, 0.0], [0.1, 100.0], [2.0, 100.0]]
[centrifugal]
omega = 1.5e4
axis_point = [3.5, -20.0, 1.5]
axis_direction = [0.0, 0.0, 1.0]
table = [[0.0, 0.0], [1.0, 1.0], [2.0, 1.0]]
[solver]
rtol = 1e-10
[solver.petsc]
ksp_rtol = 1e-12
[rom]
eps_u = 1e-5
"""


@pytest.mark.mpi
def test_rom_built_from_the_zset_run_reproduces_it(tmp_path, comm):
    """The Z-set run with its loads in a case (``ZSET_LOADS``: Dirichlet, the pressure
    given per face of the face set ``x1``, the rotation, the temperature history):

    * its replay equilibrates our loads: the relative equilibrium residual per step
      (t = 0.2 ... 2) is 4.7e-7, 5.0e-7, 5.2e-7, 5.5e-7, 7.0e-7, 8.9e-7, 9.9e-7, 1.5e-6,
      1.7e-6, 1.1e-6, the float32 precision of the stored displacements: our own HF
      run of the case, rounded to float32 and replayed, gives 4.7e-7 ... 1.7e-6 (within
      10 % step by step). The conventions are what makes it so: the pressure with Z-set's
      sign gives 9.0e-2 ... 3.4e-1, the per-face values in reversed order 2.9e-2 ...
      1.1e-1, a rotation table that scales omega^2 rather than omega 1.5e-2 at t = 0.2;
    * our HF run of the case is Z-set's displacements to 8.0e-7 (relative L2 over all
      steps; 2.5e-8 at t = 0.2 to 2.2e-6 at t = 1.8, after the plastic flow): the same
      loads and law, an independent check of both;
    * a ROM built from the replayed Z-set run alone (9 modes of its 10 steps at eps_u =
      1e-5, ECM 1e-6) run on the same case reproduces Z-set's displacements to 1.6e-5
      (relative L2 over all steps; the criterion, as the Mordicus tests ask of their own
      ROM: 1e-4). At the default eps_u = 1e-4 the POD keeps 7 modes and the ROM is
      within 3.1e-4 (4.9e-4 at the last step) of Z-set: the truncation, not the loads.
    """
    from rom.offline import build_rom
    from rom.online import open_for_case, run_online
    from rom.replay import replay
    from rom.snapshots import read_snapshots

    folder = comm.bcast(str(tmp_path), root=0)
    if comm.rank == 0:
        shutil.copy(GEOF, os.path.join(folder, "cube.geof"))
        for k in (1, 2):
            np.save(os.path.join(folder, f"T{k}.npy"),
                    read_zset_values(os.path.join(DATA, f"temperature{k}.node"), 343))
        p = read_zset_values(os.path.join(DATA, "pressure.node"), 36)
        np.save(os.path.join(folder, "pressure.npy"), p)
        np.save(os.path.join(folder, "reversed.npy"), p[::-1])
    comm.Barrier()
    material = ZSET_MATERIAL + "rho = 1e-8\n"  # masvol

    def case_of(name, body=ZSET_LOADS):
        return write_case(folder, None, body, name=name, mesh_name="cube.geof",
                          material=material, comm=comm)

    def at_rest_skipped(res, displacement=None):
        return NodalResults(source=res.source, node_ids=res.node_ids, points=res.points,
                            times=res.times[1:], displacement=res.displacement[1:]
                            if displacement is None else displacement)

    case = case_of("zset")
    zset = read_zset(UT)
    U_zset = zset.displacement[1:]  # the mesh's node order is the .geof's
    assert read_geof(GEOF).file_node_ids.tolist() == list(range(343))

    def residuals(case, results, name):
        out = replay(case, results, comm, os.path.join(folder, name), log=None)
        assert out["substeps"] == [1] * 10
        return np.array(out["residuals"]), out["path"]

    res, replayed = residuals(case, zset, "replay")
    # our HF run of the case
    hf = solve(case, comm, os.path.join(folder, "hf"))
    U_hf = comm.bcast(read_snapshots(hf["files"][0], ("U",))["U"] if comm.rank == 0
                      else None)
    assert np.linalg.norm(U_hf - U_zset) <= 5e-6 * np.linalg.norm(U_zset)
    # the float32 precision of displacements, as a residual: our run rounded
    floor, _ = residuals(case, at_rest_skipped(zset, U_hf.astype(np.float32).astype(float)),
                         "replay_hf32")
    assert floor.max() < 1e-5
    assert np.all(res <= 1.5 * floor)
    # other conventions: residuals of order 1e-2 and more
    sign = case_of("sign", ZSET_LOADS.replace("[0.1, 100.0], [2.0, 100.0]",
                                              "[0.1, -100.0], [2.0, -100.0]"))
    assert residuals(sign, zset, "replay_sign")[0].min() > 1e4 * floor.max()
    order = case_of("order", ZSET_LOADS.replace("pressure.npy", "reversed.npy"))
    assert residuals(order, zset, "replay_order")[0].min() > 1e3 * floor.max()
    omega2 = case_of("omega2", ZSET_LOADS.replace(  # rotation(t) scaling omega^2
        "table = [[0.0, 0.0], [1.0, 1.0], [2.0, 1.0]]",
        "table = [" + ", ".join(f"[{t:g}, {np.sqrt(t):.17g}]" for t in (0, .2, .4, .6, .8))
        + ", [1.0, 1.0], [2.0, 1.0]]"))
    assert residuals(omega2, zset, "replay_omega2")[0][0] > 1e3 * floor.max()
    # the ROM of the Z-set run alone
    rom_path = os.path.join(folder, "rom.h5")
    build_rom(case, [replayed], comm, rom_path, log=None)
    out = run_online(open_for_case(rom_path, case)[0], case)
    U_rom = np.array([out["model"].displacement(g) for g in out["gamma"]])
    U_rom = U_rom.reshape(U_zset.shape)
    assert np.linalg.norm(U_rom - U_zset) <= 1e-4 * np.linalg.norm(U_zset)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def _copy_run(tmp_path):
    for name in ("cube.geof", "cube.ut", "cube.node", "cube.integ"):
        shutil.copy(os.path.join(DATA, name), tmp_path / name)
    return str(tmp_path / "cube.ut")


def test_damaged_files_are_reported(tmp_path):
    ut = _copy_run(tmp_path)
    node = tmp_path / "cube.node"
    raw = node.read_bytes()
    node.write_bytes(raw[:-4 * 343])  # the last time's last variable missing
    with pytest.raises(RomError, match=r"cube\.node: 89180 bytes, 90552 expected for 11 "
                                       r"times x 6 nodal variables x 343 nodes \(truncated"):
        read_zset(ut)
    node.write_bytes(raw)
    integ = tmp_path / "cube.integ"
    integ.write_bytes(integ.read_bytes()[:1000])
    with pytest.raises(RomError, match=r"cube\.integ: 1000 bytes, .* expected .*truncated"):
        read_zset_integ(ut, ["evrcum"])
    with pytest.raises(RomError, match=r"cube\.ut: no nodal variable U4 \(its nodal "
                                       r"variables: U1, U2, U3, RU1, RU2, RU3\)"):
        read_zset(ut, names=("U1", "U2", "U4"))
    with pytest.raises(RomError, match="no integration-point variable evri11"):
        read_zset_integ(ut, ["evri11"])
    text = (tmp_path / "cube.ut").read_text()
    bad_ut = _write(tmp_path / "bad.ut", text.replace("4 1 1 3 6.0", "4 1 1 3 six"))
    with pytest.raises(RomError, match=r"bad\.ut, line 8: cannot read a time line"):
        read_zset(bad_ut)
    with pytest.raises(RomError, match=r"not found: .*missing\.ut"):
        read_zset(str(tmp_path / "missing.ut"))
    os.remove(tmp_path / "cube.node")
    with pytest.raises(RomError, match=r"not found: .*cube\.node"):
        read_zset(ut)
    with pytest.raises(RomError, match=r"T\.node: 1372 bytes, 144 expected for 36 values"):
        read_zset_values(shutil.copy(os.path.join(DATA, "temperature1.node"),
                                     tmp_path / "T.node"), 36)


def test_damaged_geof_lines_are_reported(tmp_path):
    with open(GEOF) as f:
        lines = f.read().splitlines()

    def damaged(no, text):  # line ``no`` (1-based) replaced
        out = list(lines)
        out[no - 1] = text
        return _write(tmp_path / "bad.geof", "\n".join(out) + "\n")

    assert lines[3].startswith("1 0.0") and lines[348].startswith("1 c3d8")
    with pytest.raises(RomError, match=r"bad\.geof, line 4: cannot read a node from '1 0.x"):
        read_geof(damaged(4, "1 0.x 0.0 0.0"))
    with pytest.raises(RomError, match=r"bad\.geof, line 4: '1 0.0 0.0': 'id x y z'"):
        read_geof(damaged(4, "1 0.0 0.0"))
    with pytest.raises(RomError, match=r"bad\.geof, line 349: element 1 is a 'c2d4': "
                                       "unsupported element type"):
        read_geof(damaged(349, "1 c2d4 1 2 9 8"))
    with pytest.raises(RomError, match=r"line 349: element 1 \(c3d8\) has 7 nodes, 8"):
        read_geof(damaged(349, "1 c3d8 1 2 9 8 50 51 58"))
    with pytest.raises(RomError, match=r"line 349: an element refers to node 999"):
        read_geof(damaged(349, "1 c3d8 1 2 9 999 50 51 58 57"))
    with pytest.raises(RomError, match=r"line 349: element 1 \(c3d8\): non-positive "
                                       r"Jacobian .* \(1 such element"):
        read_geof(damaged(349, "1 c3d8 1 8 9 2 50 57 58 51"))  # inverted
    with pytest.raises(RomError, match=r"line 567: cannot read the ids of node set z0"):
        read_geof(damaged(567, " 1 2 three"))
    with pytest.raises(RomError, match=r"line 741: face set x1: unsupported face type 'q5'"):
        read_geof(damaged(741, "q5  7 14 63 56"))
    with pytest.raises(RomError, match=r"line 675: element set ELAS lists 999, which the"):
        read_geof(damaged(675, " 999"))
    cut = _write(tmp_path / "cut.geof", "\n".join(lines[:200]) + "\n")
    with pytest.raises(RomError, match=r"cut\.geof, line 200: 197 node lines for the 343 "
                                       r"announced \(line 3\)"):
        read_geof(cut)
    cut = _write(tmp_path / "cut.geof", "\n".join(lines[:700]) + "\n")
    with pytest.raises(RomError, match=r"cut\.geof: no \*\*\*return at the end \(truncated"):
        read_geof(cut)
    with pytest.raises(RomError, match=r"not found: .*missing\.geof"):
        read_mesh_file(str(tmp_path / "missing.geof"))
    binary = tmp_path / "binary.geof"
    binary.write_bytes(b"Z7BINARYGEOF\x00" + bytes(100))
    with pytest.raises(RomError, match=r"binary\.geof: a binary Z-set mesh \(\.geo\)"):
        read_geof(str(binary))


def _reference_geof(zset_type, face_name, element):
    """One element of ``zset_type`` with the reference nodes of ``element``, written
    in Z-set's order, and its first face as face set ``face``."""
    mtype, perm = VOLUME_TYPES[zset_type]
    nodes = np.hstack([element.nodes, np.zeros((element.n_nodes, 3 - element.dim))])
    order = np.arange(element.n_nodes) if perm is None else np.argsort(perm)
    ftype = next(k for k, (t, _) in FACE_TYPES.items() if t == element.face_type)
    fperm = FACE_TYPES[ftype][1]
    face = np.array(element.faces[0])
    face = face if fperm is None else face[np.argsort(fperm)]
    text = ["***geometry", "**node", f"{element.n_nodes} 3"]
    text += [f"{10 + i} {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in enumerate(nodes)]
    text += ["**element", "1", f"5 {zset_type} " + " ".join(str(10 + i) for i in order),
             "***group", f"**faset {face_name}", f"{ftype} " + " ".join(str(10 + i) for i in face),
             "**elset all", "5", "***return"]
    return "\n".join(text) + "\n"


@pytest.mark.parametrize("zset_type", ["c3d4", "c3d10", "c3d8", "c3d20"])
def test_element_and_face_node_orders(zset_type, tmp_path):
    """A Z-set element written in Z-set's order (module docstring) reads back as the
    project's (meshio's) element, its face set as the element's outward face."""
    element = get_element(VOLUME_TYPES[zset_type][0])
    path = _write(tmp_path / "one.geof", _reference_geof(zset_type, "top", element))
    data = read_geof(path)
    assert data.cell_type == element.name
    assert np.allclose(data.points[data.cells[0]][:, :element.dim], element.nodes)
    assert data.element_groups["top"]["faces"][element.face_type][0].tolist() == list(
        data.cells[0][list(element.faces[0])])
    assert data.cell_set("all").tolist() == [0]
    assert len(data.face_set("top")[0]) == 1


def _geof_text(points, elements, groups=()):
    """A ``.geof``: nodes ``10, 11, ...`` at ``points``, ``elements`` ``[(id, Z-set type,
    node indices in Z-set's order)]``, ``groups`` ``[(kind, name, lines)]``."""
    text = ["***geometry", "**node", f"{len(points)} 3"]
    text += [f"{10 + i} {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in enumerate(points)]
    text += ["**element", str(len(elements))]
    text += [f"{e} {t} " + " ".join(str(10 + i) for i in c) for e, t, c in elements]
    text += ["***group"]
    for kind, name, rows in groups:
        text += [f"**{kind} {name}", *rows]
    return "\n".join(text + ["***return"]) + "\n"


def _zset_order(zset_type, cells):
    """Cells in meshio's order -> Z-set's (the inverse of :data:`VOLUME_TYPES`')."""
    perm = VOLUME_TYPES[zset_type][1]
    return cells if perm is None else cells[:, np.argsort(perm)]


@pytest.mark.parametrize("degree", [1, 2])
def test_mixed_element_types_give_cell_blocks(degree, tmp_path):
    """Hexahedra (x in [0, 2]) and tetrahedra (x in [3, 4]) listed alternately in one
    .geof: one cell block per type, each in the file's order; element sets in the
    cells' numbering; a face set of quadrilaterals and triangles."""
    from rom.mesh import SetDefinition
    from rom.meshgen import box_mesh

    zh, zt = ("c3d8", "c3d4") if degree == 1 else ("c3d20", "c3d10")
    hexa = box_mesh((2, 1, 1), (2.0, 1.0, 1.0), VOLUME_TYPES[zh][0])
    tet = box_mesh((1, 1, 1), (1.0, 1.0, 1.0), VOLUME_TYPES[zt][0], origin=(3.0, 0, 0))
    points = np.vstack([hexa.points, tet.points])
    cells = {zh: _zset_order(zh, hexa.cells), zt: _zset_order(zt, tet.cells + len(hexa.points))}
    # the file (ids 100, 101, ...): a tetrahedron, a hexahedron, ..., the tetrahedra in
    # another order than box_mesh's
    order = [(zt, 3), (zh, 0), (zt, 0), (zh, 1)] + [(zt, k) for k in (5, 1, 4, 2)]
    assert sorted(k for t, k in order if t == zt) == list(range(len(tet.cells)))
    elements = [(100 + j, t, cells[t][k]) for j, (t, k) in enumerate(order)]
    eid = {(t, k): 100 + j for j, (t, k) in enumerate(order)}
    # faces: the hexahedra's on x = 0 (q4/q8), the tetrahedra's on x = 4 (t3/t6)
    faces = []
    for data, x, sets in ((hexa, 0.0, ("q4", "q8")), (tet, 4.0, ("t3", "t6"))):
        (ft, (_, _, conn)), = data.boundary_faces().items()
        conn = conn[np.all(np.isclose(data.points[conn][..., 0], x), axis=1)]
        conn = conn + (0 if data is hexa else len(hexa.points))
        zft = sets[degree - 1]
        fperm = FACE_TYPES[zft][1]
        conn = conn if fperm is None else conn[:, np.argsort(fperm)]
        faces += [f"{zft} " + " ".join(str(10 + i) for i in c) for c in conn]
    picked = [eid[zt, 1], eid[zh, 0], eid[zt, 3]]
    path = _write(tmp_path / "mixed.geof", _geof_text(points, elements, [
        ("elset", "picked", [" ".join(map(str, picked))]),
        ("faset", "ends", faces),
        ("nset", "first", ["10 11"])]))
    data = read_geof(path)
    # blocks: hexahedra then tetrahedra (alphabetical), each in the file's order
    assert data.cell_type == "mixed"
    assert list(data.cell_types) == [hexa.cell_type, tet.cell_type]
    hexa_cells, tet_cells = (c for _, c in data.block_cells)
    np.testing.assert_array_equal(data.points[hexa_cells], hexa.points[hexa.cells])
    tet_order = [k for t, k in order if t == zt]
    np.testing.assert_array_equal(data.points[tet_cells], tet.points[tet.cells[tet_order]])
    for b in data.blocks:
        assert CellBasis(b.element, data.points[b.cells]).dx.min() > 0
    # the element set: cells of the picked elements (hexahedron 0, tetrahedra 1 and 3)
    n_hex = len(hexa.cells)
    assert data.cell_set("picked").tolist() == sorted(
        [0, n_hex + tet_order.index(1), n_hex + tet_order.index(3)])
    assert np.array_equal(data.node_set("picked"), data.nodes_of_cells(data.cell_set("picked")))
    # the face set: both face types, boundary faces with their areas (1 and 1)
    group = data.element_groups["ends"]["faces"]
    assert len(group) == 2
    groups = data.face_groups("ends")
    area = sum(FaceBasis(get_element(t), data.points[c]).area().sum()
               for t, (_, _, c) in groups.items() if len(c))
    np.testing.assert_allclose(area, 2.0, rtol=1e-12)
    data.add_definitions([SetDefinition("x0", "faces", "x == 0"),
                          SetDefinition("x4", "faces", "x == 4")])
    pairs = {(int(c), int(f)) for g in groups.values() for c, f in zip(g[0], g[1])}
    geo = {(int(c), int(f)) for n in ("x0", "x4") for g in data.face_groups(n).values()
           for c, f in zip(g[0], g[1])}
    assert pairs == geo
    assert data.node_set("first").tolist() == [0, 1]


@pytest.mark.parametrize("zset_type", ["c3d6", "c3d15", "c3d5", "c3d13", "c3d6r"])
def test_wedges_and_pyramids_are_refused_by_name(zset_type, tmp_path):
    """Z-set's wedges and pyramids are refused, naming the element, its line and the
    reason (module docstring: their node orders are not established)."""
    assert zset_type in REFUSED_TYPES and zset_type not in VOLUME_TYPES
    with open(GEOF) as f:
        lines = f.read().splitlines()
    lines[348] = f"1 {zset_type} 1 2 9 8 50 51"
    path = _write(tmp_path / "bad.geof", "\n".join(lines) + "\n")
    kind = "wedge" if zset_type.startswith("c3d6") or zset_type.startswith("c3d15") \
        else "pyramid"
    with pytest.raises(RomError, match=rf"bad\.geof, line 349: element 1 is a "
                                       rf"'{zset_type}' \(a {kind}; 1 wedge or pyramid "
                                       r"element\(s\) in the mesh\): Z-set's node order of "
                                       r"wedges and pyramids .* is not known here"):
        read_mesh_file(path)


def test_linear_and_quadratic_elements_are_refused(tmp_path):
    el = get_element("tetra10")
    points = np.vstack([el.nodes, el.nodes + [2.0, 0.0, 0.0]])
    elements = [(1, "c3d4", np.arange(4)),
                (2, "c3d10", _zset_order("c3d10", np.arange(10, 20)[None])[0])]
    path = _write(tmp_path / "degrees.geof", _geof_text(points, elements))
    with pytest.raises(RomError, match=r"degrees\.geof: linear elements \(c3d4\) beside "
                                       r"quadratic ones \(c3d10\): their faces cannot match"):
        read_geof(path)
