"""The XDMF written by the solver opens and renders in ParaView (when pvbatch and
xvfb-run are installed: Debian packages paraview and xvfb; skipped otherwise)."""

import os
import shutil
import subprocess

import pytest

from helpers import solve, write_case
from rom.meshgen import box_mesh

HERE = os.path.dirname(os.path.abspath(__file__))
NEEDS_PARAVIEW = pytest.mark.skipif(not (shutil.which("pvbatch") and shutil.which("xvfb-run")),
                                    reason="ParaView (pvbatch) or xvfb-run not installed")


def _pvbatch(script, *args):
    """``pvbatch script args`` under ``xvfb-run``: the completed process (retried when
    a loaded machine's Xvfb does not answer its first client)."""
    for _ in range(3):
        proc = subprocess.run(["xvfb-run", "-a", "pvbatch", str(script), *map(str, args)],
                              capture_output=True, text=True, timeout=300)
        if "bad X server connection" not in proc.stderr:
            break
    return proc


def _result(tmp_path, comm, cell_type, n, lengths):
    """The XDMF (absolute path) of an HF run of a small loaded, heated box."""
    data = box_mesh(n, lengths, cell_type)
    case = write_case(tmp_path, data, '[[dirichlet]]\nset = "xmin"\n[[pressure]]\n'
                      'set = "xmax"\nvalue = 50.0\n[temperature]\nexpression = "20 + 100 * y"\n')
    return os.path.abspath(solve(case, comm, tmp_path / "out")["files"][1])


@NEEDS_PARAVIEW
def test_paraview_opens_results(tmp_path, comm):
    xdmf = _result(tmp_path, comm, "hexahedron20", (2, 2, 2), (1, 1, 1))
    png = tmp_path / "view.png"
    proc = _pvbatch(os.path.join(HERE, "data", "paraview_render.py"), xdmf, png)
    assert proc.returncode == 0, proc.stderr
    assert ("point arrays ['max_principal_nodal', 'principal_stress_nodal', 'sigma_nodal', "
            "'T', 'U', 'von_mises_nodal'] cell arrays ['eps', 'sigma', 'von_mises']"
            ) in proc.stdout
    assert png.stat().st_size > 10000


@NEEDS_PARAVIEW
def test_render_command(tmp_path, comm):
    """run.py render: one picture per field (nodal von Mises, temperature), a state
    file naming the result, the side-by-side comparison with a second result in the
    same color range, a clear message for an unknown field or a missing result."""
    from conftest import run_cli

    xdmf = _result(tmp_path, comm, "tetra10", (3, 2, 2), (3.0, 1.0, 1.0))
    out = tmp_path / "pics"
    proc = run_cli(["render", xdmf, "--out", str(out)], timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("T", "von_mises_nodal"):
        assert (out / f"{name}.png").stat().st_size > 10000, name
    assert not (out / "p_nodal.png").exists()  # an elastic run has no p
    assert xdmf in (out / "view.pvsm").read_text()
    proc = run_cli(["render", xdmf, "--out", str(out), "--fields", "von_mises_nodal",
                    "--compare", xdmf, "--warp", "100"], timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / "von_mises_nodal_compare.png").stat().st_size > 20000
    # inside an MPI job (the pipeline's report): pvbatch must not join it
    proc = run_cli(["render", xdmf, "--out", str(tmp_path / "mpi"), "--fields", "T"], n=2,
                   timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mpi" / "T.png").stat().st_size > 10000
    proc = run_cli(["render", xdmf, "--out", str(out), "--fields", "nope"], timeout=600)
    assert proc.returncode != 0 and "has no array nope" in proc.stderr
    assert "von_mises_nodal" in proc.stderr  # the arrays it has are listed
    proc = run_cli(["render", str(tmp_path / "missing.xdmf")])
    assert proc.returncode != 0 and "result file not found" in proc.stderr


# pvbatch script: every XDMF reader of ParaView on each file given, one JSON line per
# reader and file: per time step the datasets (leaves) and their point counts, the
# largest |U_x|, and the point and cell arrays with their component counts
READERS_SCRIPT = r'''
import json
import sys

from paraview import servermanager as sm
from paraview import simple as pv

for xdmf in sys.argv[1:]:
    for name in ("XDMFReader", "Xdmf3ReaderS", "Xdmf3ReaderT"):
        key = "FileNames" if name == "XDMFReader" else "FileName"
        reader = getattr(pv, name)(**{key: [xdmf]})
        reader.UpdatePipeline()
        steps = []
        for t in reader.TimestepValues:
            reader.UpdatePipeline(t)
            data = sm.Fetch(reader)
            leaves = []
            if data.IsA("vtkCompositeDataSet"):
                it = data.NewIterator()
                it.InitTraversal()
                while not it.IsDoneWithTraversal():
                    leaves.append(it.GetCurrentDataObject())
                    it.GoToNextItem()
            else:
                leaves.append(data)
            u = [d.GetPointData().GetArray("U") for d in leaves]
            steps.append({"time": t, "leaves": [d.GetNumberOfPoints() for d in leaves],
                          "u_x": [a.GetRange(0) if a else None for a in u]})
        arrays = {"point": {k: reader.PointData[k].GetNumberOfComponents()
                            for k in reader.PointData.keys()},
                  "cell": {k: reader.CellData[k].GetNumberOfComponents()
                           for k in reader.CellData.keys()}}
        print("RESULT " + json.dumps({"file": xdmf, "reader": name, "steps": steps,
                                      "arrays": arrays}))
        pv.Delete(reader)
'''


@NEEDS_PARAVIEW
def test_every_xdmf_reader_shows_one_block_per_step(tmp_path, comm):
    """ParaView's three XDMF readers (the legacy "XDMF Reader", "Xdmf3ReaderS",
    "Xdmf3ReaderT") on an HF run's snapshots.xdmf and on a ROM result's online.xdmf
    (:class:`rom.online.ResultWriter`): one dataset per time step (no second, undeformed
    mesh block), the file's times, the displacement of each step, and the nodal stress
    arrays (tensor, von Mises, principal values as a 3-vector, the largest principal)
    beside the cell averages."""
    import json

    import h5py
    import numpy as np

    from rom.fem import CellBasis, get_element
    from rom.online import ResultWriter
    from rom.snapshots import read_snapshots

    data = box_mesh((2, 2, 2), (1, 1, 1), "hexahedron20")
    case = write_case(tmp_path, data, '[[dirichlet]]\nset = "xmin"\n[[pressure]]\n'
                      'set = "xmax"\nvalue = 50.0\ntable = [[0.0, 0.0], [2.0, 1.0]]\n'
                      '[temperature]\nexpression = "20 + 100 * y"\n[steps]\nend = 2.0\n'
                      'count = 3\n')
    h5, hf_xdmf = solve(case, comm, tmp_path / "out")["files"]
    if comm.rank != 0:
        return
    hf = read_snapshots(h5, ("U",), ("sigma",))
    # a ROM result of the same fields (the HF ones, p made up), through ResultWriter
    w = CellBasis(get_element("hexahedron20"), data.points[data.cells]).dx.ravel()
    writer = ResultWriter(str(tmp_path / "rom" / "online.h5"),
                          {"basis": {"qp_weights": w}, "attrs": {"n_qp_cell": 27}}, case,
                          data, None, "test")
    for k, t in enumerate(hf["time"]):
        writer.write(t, hf["U"][k], {"sigma": hf["qp/sigma"][k],
                                     "p": np.linspace(-1e-6, 1e-3, len(w))})
    writer.close()
    script = tmp_path / "readers.py"
    script.write_text(READERS_SCRIPT)
    files = [os.path.abspath(hf_xdmf), os.path.abspath(writer.xdmf_path)]
    proc = _pvbatch(script, *files)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines()
               if line.startswith("RESULT ")]
    assert [(r["file"], r["reader"]) for r in results] == [
        (f, name) for f in files for name in ("XDMFReader", "Xdmf3ReaderS", "Xdmf3ReaderT")]
    for r in results:
        where = f"{r['reader']} on {os.path.basename(r['file'])}"
        # Tensor6: the legacy reader expands it to the 3 x 3 tensor, the Xdmf3 readers
        # keep its 6 components (in XDMF's order xx, xy, xz, yy, yz, zz)
        tensor = 9 if r["reader"] == "XDMFReader" else 6
        nodal = {"U": 3, "T": 1, "sigma_nodal": tensor, "von_mises_nodal": 1,
                 "principal_stress_nodal": 3, "max_principal_nodal": 1}
        np.testing.assert_allclose([s["time"] for s in r["steps"]], hf["time"], err_msg=where)
        for k, s in enumerate(r["steps"]):
            assert s["leaves"] == [data.n_nodes], (where, k, s)
            u_x = hf["U"][k][:, 0]
            np.testing.assert_allclose(s["u_x"][0], [u_x.min(), u_x.max()], rtol=1e-12,
                                       atol=1e-15, err_msg=f"{where} step {k}")
        assert r["arrays"]["point"] == {**nodal, **(
            {"p_nodal": 1} if "online" in r["file"] else {})}, where
        assert {"sigma": tensor, "von_mises": 1}.items() <= r["arrays"]["cell"].items(), where
    with h5py.File(writer.path, "r") as f:
        assert f["steps/0/nodes/p_nodal"][...].min() == 0.0


# pvbatch script: for each XDMF reader, the cells of the first step by VTK cell type and
# the mesh's volume by ParaView's Cell Size filter (VTK's own shape functions: a node
# order VTK reads otherwise gives negative or wrong volumes), and the point arrays
MIXED_SCRIPT = r'''
import json
import sys

from paraview import servermanager as sm
from paraview import simple as pv

xdmf = sys.argv[1]
for name in ("XDMFReader", "Xdmf3ReaderS", "Xdmf3ReaderT"):
    key = "FileNames" if name == "XDMFReader" else "FileName"
    reader = getattr(pv, name)(**{key: [xdmf]})
    reader.UpdatePipeline(reader.TimestepValues[0])
    merged = pv.MergeBlocks(Input=reader)
    size = pv.CellSize(Input=merged)
    size.UpdatePipeline(reader.TimestepValues[0])
    data = sm.Fetch(size)
    types = {}
    volumes = data.GetCellData().GetArray("Volume")
    for i in range(data.GetNumberOfCells()):
        t = data.GetCellType(i)
        types[t] = types.get(t, 0) + 1
    vols = [volumes.GetValue(i) for i in range(data.GetNumberOfCells())]
    print("RESULT " + json.dumps({"reader": name, "types": types, "steps":
                                  len(reader.TimestepValues), "volume": sum(vols),
                                  "min_volume": min(vols),
                                  "points": sorted(reader.PointData.keys())}))
    for p in (size, merged, reader):
        pv.Delete(p)
'''


@NEEDS_PARAVIEW
@pytest.mark.parametrize("degree", [1, 2])
def test_paraview_reads_a_mixed_mesh(degree, tmp_path, comm):
    """An HF run on a mesh of hexahedra, wedges, pyramids and tetrahedra (XDMF "Mixed"
    topology): every ParaView reader finds each cell type's count and, by VTK's own
    cell sizes, every cell direct and the box's volume (the node orders agree)."""
    import json

    from rom.meshgen import mixed_box_mesh

    # VTK sizes a linear hexahedron by its tetrahedra: exact for planar faces only
    data = mixed_box_mesh((4, 2, 2), (2.0, 1.0, 1.0), degree=degree,
                          distort=0.1 if degree == 2 else 0.0)
    case = write_case(tmp_path, data, '[[dirichlet]]\nset = "xmin"\n[[pressure]]\n'
                      'set = "ymax"\nvalue = 50.0\n[steps]\nend = 1.0\ncount = 2\n')
    xdmf = os.path.abspath(solve(case, comm, tmp_path / "out")["files"][1])
    if comm.rank != 0:
        return
    script = tmp_path / "mixed.py"
    script.write_text(MIXED_SCRIPT)
    proc = _pvbatch(script, xdmf)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line[7:]) for line in proc.stdout.splitlines()
               if line.startswith("RESULT ")]
    assert len(results) == 3, proc.stdout
    # VTK cell type ids: tetra 10, hexahedron 12, wedge 13, pyramid 14; quadratic 24,
    # 25, 26, 27
    vtk = {"tetra": 10, "hexahedron": 12, "wedge": 13, "pyramid": 14, "tetra10": 24,
           "hexahedron20": 25, "wedge15": 26, "pyramid13": 27}
    expected = {str(vtk[t]): n for t, n in data.cell_types.items()}
    for r in results:
        assert r["types"] == expected, r
        assert r["steps"] == 2, r
        assert r["volume"] == pytest.approx(2.0, rel=1e-9), r
        assert r["min_volume"] > 0, r
        assert {"U", "T", "von_mises_nodal", "sigma_nodal"} <= set(r["points"]), r
