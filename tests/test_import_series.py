"""Other solvers' results as meshio time series (rom/io/series.py): this project's own
XDMF of an HF run, a VTU series with a ParaView PVD collection or numbered files, an
XDMF written by meshio's ``TimeSeriesWriter`` and one laid out as DOLFINx writes it
(one temporal collection per function), 2D results; damaged files and ambiguous
arrays; the replay of an XDMF read back."""

import os
import shutil
from xml.etree import ElementTree as ET

import h5py
import meshio
import numpy as np
import pytest
from mpi4py import MPI
from test_hf import CHABOCHE, CYCLE

from helpers import solve, write_case
from rom import RomError
from rom.io.results import match_nodes
from rom.io.series import read_vtu_series, read_xdmf_series
from rom.meshgen import box_mesh
from rom.snapshots import read_snapshots


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory):
    """Collective. An HF run of the cyclic Chaboche case (16 steps, a temperature that
    varies in time and space); returns ``(case, mesh data, snapshot file)``."""
    comm = MPI.COMM_WORLD
    tmp = comm.bcast(str(tmp_path_factory.mktemp("series")) if comm.rank == 0 else None)
    data = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.15)
    case = write_case(tmp, data, CYCLE, material=CHABOCHE, comm=comm)
    solve(case, comm, os.path.join(tmp, "hf"))
    return case, data, os.path.join(tmp, "hf", "snapshots.h5")


@pytest.fixture(scope="module")
def snap(hf_run):
    return read_snapshots(hf_run[2], ("U", "T"))


def _assert_equal_to_run(res, data, snap, temperature=True):
    assert np.array_equal(res.times, snap["time"])
    assert np.array_equal(res.node_ids, np.arange(1, len(data.points) + 1))
    assert np.array_equal(res.points, data.points)
    assert np.array_equal(match_nodes(res, data.points), np.arange(len(data.points)))
    assert np.array_equal(res.displacement, snap["U"])
    if temperature:
        assert np.array_equal(res.temperature, snap["T"])
    else:
        assert res.temperature is None


def _write_vtu_series(folder, data, snap, names=("Displacement", "Temperature"),
                      pattern="u_{k}.vtu", pvd="series.pvd", time_value=False):
    """One .vtu per step (meshio), a PVD collection as ParaView writes it (``pvd``),
    the step's time as ParaView's ``TimeValue`` field data (``time_value``)."""
    os.makedirs(folder, exist_ok=True)
    collection = ET.Element("VTKFile", type="Collection", version="0.1")
    sets = ET.SubElement(collection, "Collection")
    for k, t in enumerate(snap["time"]):
        name = pattern.format(k=k)
        path = os.path.join(folder, name)
        point_data = {names[0]: snap["U"][k]}
        if names[1]:
            point_data[names[1]] = snap["T"][k]
        meshio.write(path, meshio.Mesh(data.points, [(data.cell_type, data.cells)],
                                       point_data=point_data))
        if time_value:
            with open(path) as f:
                text = f.read()
            field = ('<FieldData>\n<DataArray type="Float64" Name="TimeValue" '
                     f'NumberOfTuples="1" format="ascii">{t!r}</DataArray>\n</FieldData>\n')
            with open(path, "w") as f:
                f.write(text.replace("<UnstructuredGrid>\n", "<UnstructuredGrid>\n" + field))
        ET.SubElement(sets, "DataSet", timestep=repr(float(t)), group="", part="0",
                      file=name)
    if pvd:
        ET.ElementTree(collection).write(os.path.join(folder, pvd), xml_declaration=True)
        return os.path.join(folder, pvd)
    return None


def _write_dolfinx_like(path, data, snap, names=("f", "T")):
    """The layout of DOLFINx's ``XDMFFile.write_mesh`` then ``write_function(u, t)``
    and ``write_function(T, t)`` for each t: the mesh grid first, then one temporal
    collection per function, its data under ``/Function/<name>/<t>``."""
    h5_path = os.path.splitext(path)[0] + ".h5"
    h5name = os.path.basename(h5_path)
    xi = "http://www.w3.org/2001/XInclude"
    ET.register_namespace("xi", xi)
    root = ET.Element("Xdmf", Version="3.0")
    domain = ET.SubElement(root, "Domain")

    def item(parent, h5path, shape, dtype="Float"):
        e = ET.SubElement(parent, "DataItem", Dimensions=" ".join(map(str, shape)),
                          Format="HDF", DataType=dtype, Precision="8")
        e.text = f"{h5name}:{h5path}"

    with h5py.File(h5_path, "w") as f:
        f["Mesh/mesh/geometry"] = data.points
        f["Mesh/mesh/topology"] = data.cells
        mesh = ET.SubElement(domain, "Grid", Name="mesh", GridType="Uniform")
        topo = ET.SubElement(mesh, "Topology", TopologyType="Hexahedron_20",
                             NumberOfElements=str(len(data.cells)), NodesPerElement="20")
        item(topo, "/Mesh/mesh/topology", data.cells.shape, "Int")
        geo = ET.SubElement(mesh, "Geometry", GeometryType="XYZ")
        item(geo, "/Mesh/mesh/geometry", data.points.shape)
        for name, field in zip(names, ("U", "T")):
            series = ET.SubElement(domain, "Grid", Name=name, GridType="Collection",
                                   CollectionType="Temporal")
            for k, t in enumerate(snap["time"]):
                g = ET.SubElement(series, "Grid", Name=name, GridType="Uniform")
                ET.SubElement(g, f"{{{xi}}}include", xpointer="xpointer(/Xdmf/Domain/"
                              "Grid[@GridType='Uniform'][1]/*[self::Topology or "
                              "self::Geometry])")
                ET.SubElement(g, "Time", Value=repr(float(t)))
                a = ET.SubElement(g, "Attribute", Name=name, Center="Node",
                                  AttributeType="Vector" if field == "U" else "Scalar")
                v = snap[field][k] if field == "U" else snap[field][k][:, None]
                f[f"Function/{name}/{t!r}"] = v
                item(a, f"/Function/{name}/{t!r}", v.shape)
    ET.ElementTree(root).write(path, xml_declaration=True)


def test_xdmf_of_a_run_gives_its_snapshots(hf_run, snap):
    _, data, path = hf_run
    res = read_xdmf_series(path.replace(".h5", ".xdmf"))
    _assert_equal_to_run(res, data, snap)
    assert res.source.endswith("snapshots.xdmf")
    no_t = read_xdmf_series(path.replace(".h5", ".xdmf"), temperature=False)
    assert no_t.temperature is None and np.array_equal(no_t.displacement, snap["U"])


def test_vtu_series_with_pvd_or_numbered_files(hf_run, snap, tmp_path):
    _, data, _ = hf_run
    pvd = _write_vtu_series(str(tmp_path / "pvd"), data, snap)
    _assert_equal_to_run(read_vtu_series(pvd), data, snap)
    # numbered files without a collection: the times from ParaView's TimeValue, the
    # files in the order of their numbers (u_2 before u_10)
    _write_vtu_series(str(tmp_path / "tv"), data, snap, names=("U", "T"), pvd=None,
                      time_value=True)
    res = read_vtu_series(str(tmp_path / "tv" / "u_*.vtu"))
    _assert_equal_to_run(res, data, snap)
    # nor a time: their positions 1, 2, ...
    _write_vtu_series(str(tmp_path / "plain"), data, snap, names=("u", None),
                      pattern="out{k:04d}.vtu", pvd=None)
    res = read_vtu_series(str(tmp_path / "plain" / "out*.vtu"))
    assert np.array_equal(res.times, np.arange(1.0, 17.0))
    assert np.array_equal(res.displacement, snap["U"]) and res.temperature is None
    # a list of files, in the order given; a single file
    files = [str(tmp_path / "tv" / f"u_{k}.vtu") for k in (0, 1, 2)]
    res = read_vtu_series(files)
    assert np.array_equal(res.times, snap["time"][:3])
    assert np.array_equal(res.displacement, snap["U"][:3])
    res = read_vtu_series(files[2])
    assert np.array_equal(res.times, snap["time"][2:3])
    assert np.array_equal(res.temperature, snap["T"][2:3])


def test_xdmf_written_by_meshio_or_laid_out_as_dolfinx_writes_it(hf_run, snap, tmp_path,
                                                                  monkeypatch):
    _, data, _ = hf_run
    monkeypatch.chdir(tmp_path)  # meshio 5.0 writes the HDF5 file in the working folder
    path = str(tmp_path / "meshio.xdmf")
    with meshio.xdmf.TimeSeriesWriter(path) as w:
        w.write_points_cells(data.points, [(data.cell_type, data.cells)])
        for k, t in enumerate(snap["time"]):
            w.write_data(t, point_data={"Displacement": snap["U"][k],
                                        "Temperature": snap["T"][k]})
    _assert_equal_to_run(read_xdmf_series(path), data, snap)
    # DOLFINx: one temporal collection per function (meshio's reader alone would read
    # the temperature's only), the default function name "f"
    path = str(tmp_path / "dolfinx.xdmf")
    _write_dolfinx_like(path, data, snap)
    _assert_equal_to_run(read_xdmf_series(path), data, snap)
    # legacy FEniCS's default names f_<n>: the vector one is the displacement, the
    # scalar one is not known as a temperature unless named
    _write_dolfinx_like(path, data, snap, names=("f_12", "f_15"))
    _assert_equal_to_run(read_xdmf_series(path), data, snap, temperature=False)
    _assert_equal_to_run(read_xdmf_series(path, temperature="f_15"), data, snap)


def test_2d_results_are_padded_with_a_zero_z(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    cells = [("triangle", np.array([[0, 1, 2], [1, 3, 2]]))]
    u = np.arange(8.0).reshape(4, 2)
    path = str(tmp_path / "plane.xdmf")
    with meshio.xdmf.TimeSeriesWriter(path) as w:
        w.write_points_cells(pts, cells)
        for t in (0.5, 1.0):
            w.write_data(t, point_data={"u": t * u})
    res = read_xdmf_series(path)
    assert np.array_equal(res.points[:, :2], pts) and not res.points[:, 2].any()
    assert np.array_equal(res.displacement[1, :, :2], u)
    assert not res.displacement[..., 2].any() and res.temperature is None
    meshio.write(str(tmp_path / "plane.vtu"), meshio.Mesh(pts, cells, point_data={"U": u}))
    res = read_vtu_series(str(tmp_path / "plane.vtu"))
    assert np.array_equal(res.times, [1.0]) and np.array_equal(res.displacement[0, :, :2], u)


def test_missing_or_ambiguous_arrays_are_reported(hf_run, snap, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, data, path = hf_run
    pvd = _write_vtu_series(str(tmp_path / "a"), data, snap)
    with pytest.raises(RomError, match=r"series\.pvd: no nodal array 'V' \(displacement\); "
                                       r"its nodal arrays \(components\): Displacement "
                                       r"\(3\), Temperature \(1\)"):
        read_vtu_series(pvd, displacement="V")
    with pytest.raises(RomError, match=r"no nodal array 'theta' \(temperature\)"):
        read_vtu_series(pvd, temperature="theta")
    pvd = _write_vtu_series(str(tmp_path / "b"), data, snap, names=("velocity", "T"))
    with pytest.raises(RomError, match=r"no displacement among its nodal arrays "
                                       r"\(components\): velocity \(3\), T \(1\)"):
        read_vtu_series(pvd)
    res = read_vtu_series(pvd, displacement="velocity")
    assert np.array_equal(res.displacement, snap["U"])
    with pytest.raises(RomError, match=r"'T' at t = 0.25 has shape \(141,\), not \(141, "
                                       r"2 or 3\)"):
        read_vtu_series(pvd, displacement="T")
    xdmf = str(tmp_path / "both.xdmf")
    with meshio.xdmf.TimeSeriesWriter(xdmf) as w:
        w.write_points_cells(data.points, [(data.cell_type, data.cells)])
        w.write_data(1.0, point_data={"U": snap["U"][0], "u": snap["U"][1]})
    with pytest.raises(RomError, match=r"several nodal arrays may be the displacement "
                                       r"\(U, u\); name one with displacement="):
        read_xdmf_series(xdmf)
    assert np.array_equal(read_xdmf_series(xdmf, displacement="u").displacement[0],
                          snap["U"][1])


def test_damaged_vtu_series_are_reported(hf_run, snap, tmp_path):
    _, data, _ = hf_run
    pvd = _write_vtu_series(str(tmp_path), data, snap)
    cut = tmp_path / "u_3.vtu"
    text = cut.read_bytes()
    cut.write_bytes(text[: len(text) // 2])
    with pytest.raises(RomError, match=r"u_3\.vtu: cannot read it as a \.vtu file.*"
                                       r"truncated"):
        read_vtu_series(pvd)
    cut.unlink()
    with pytest.raises(RomError, match=r"series\.pvd: names u_3\.vtu, which does not exist"):
        read_vtu_series(pvd)
    cut.write_bytes(text)
    tree = ET.parse(pvd)
    sets = tree.getroot().findall("Collection/DataSet")
    sets[4].set("timestep", sets[3].get("timestep"))
    tree.write(pvd)
    with pytest.raises(RomError, match=r"series\.pvd: the times are not increasing "
                                       r"\(.*u_4\.vtu: t = 1 after t = 1\)"):
        read_vtu_series(pvd)
    sets[4].set("timestep", "1.25")
    sets[2].attrib.pop("timestep")
    tree.write(pvd)
    with pytest.raises(RomError, match="15 of 16 files have a timestep"):
        read_vtu_series(pvd)
    with pytest.raises(RomError, match="no file matches"):
        read_vtu_series(str(tmp_path / "v_*.vtu"))
    with pytest.raises(RomError, match="result file not found"):
        read_vtu_series(str(tmp_path / "missing.pvd"))
    other = box_mesh((4, 2, 2), (4.0, 1.0, 1.0), "hexahedron20", distort=0.2)
    meshio.write(str(tmp_path / "u_5.vtu"), meshio.Mesh(
        other.points, [(other.cell_type, other.cells)], point_data={"Displacement":
                                                                    snap["U"][5]}))
    with pytest.raises(RomError, match=r"u_5\.vtu: its points differ from those of "
                                       r".*u_0\.vtu"):
        read_vtu_series([str(tmp_path / f"u_{k}.vtu") for k in range(6)])


def test_damaged_xdmf_files_are_reported(hf_run, tmp_path):
    _, data, path = hf_run
    xdmf = path.replace(".h5", ".xdmf")
    with open(xdmf) as f:
        text = f.read()
    # its HDF5 file missing, then truncated
    shutil.copy(xdmf, tmp_path / "run.xdmf")
    with pytest.raises(RomError, match=r"run\.xdmf: its HDF5 data file .*snapshots\.h5 "
                                       "does not exist"):
        read_xdmf_series(str(tmp_path / "run.xdmf"))
    with open(path, "rb") as f:
        (tmp_path / "snapshots.h5").write_bytes(f.read()[:200000])
    with pytest.raises(RomError, match=r"run\.xdmf: cannot open its HDF5 file "
                                       r".*snapshots\.h5.*truncated"):
        read_xdmf_series(str(tmp_path / "run.xdmf"))
    # the XDMF names a step the HDF5 file does not have; the XDMF cut short
    folder = os.path.dirname(path)
    bad = os.path.join(folder, "bad.xdmf")
    with open(bad, "w") as f:
        f.write(text.replace("/steps/15/U", "/steps/99/U"))
    with pytest.raises(RomError, match=r"bad\.xdmf: cannot read step 15 of collection "
                                       r"'TimeSeries'.*99"):
        read_xdmf_series(bad)
    with open(bad, "w") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(RomError, match=r"bad\.xdmf: not a readable XDMF file .*truncated"):
        read_xdmf_series(bad)
    with open(bad, "w") as f:
        f.write(text.replace('<Time Value="0.75" />', '<Time Value="0.5" />'))
    with pytest.raises(RomError, match=r"bad\.xdmf: the times are not increasing \(step 2 "
                                       r"of collection 'TimeSeries': t = 0.5 after t = "
                                       r"0.5\)"):
        read_xdmf_series(bad)
    os.unlink(bad)
    with pytest.raises(RomError, match="result file not found"):
        read_xdmf_series(str(tmp_path / "missing.xdmf"))


def test_result_formats_by_extension_and_the_readers(hf_run):
    """rom.io's table: the format of a path by its extension (a glob of .vtu files
    too), an explicit format checked, and read_results dispatching to the reader."""
    from rom.io import read_results, result_format

    assert result_format("a/run.xdmf") == "xdmf" and result_format("b.XMF") == "xdmf"
    assert result_format("c.pvd") == "vtu" and result_format("out/u_*.vtu") == "vtu"
    assert result_format("ccx.frd") == "frd" and result_format("run.ut") == "zset"
    assert result_format("run.dat", "frd") == "frd"
    with pytest.raises(RomError, match="cannot tell the result format"):
        result_format("job.odb")
    with pytest.raises(RomError, match="unknown result format 'odb'"):
        result_format("job.frd", "odb")
    path = hf_run[2].replace(".h5", ".xdmf")
    a, b = read_results(path), read_xdmf_series(path)
    assert np.array_equal(a.displacement, b.displacement) and np.array_equal(a.times, b.times)


@pytest.mark.mpi
def test_replay_of_the_xdmf_of_a_run_gives_its_stresses(hf_run, tmp_path, comm):
    """The run's XDMF read back (on every rank) and replayed through the same law:
    the run's stresses and cumulated plasticity."""
    from rom.replay import replay

    case, _, path = hf_run
    results = read_xdmf_series(path.replace(".h5", ".xdmf"))
    out = replay(case, results, comm, str(tmp_path / "replay"), log=None)
    ref = read_snapshots(path, ("U",), qp_fields=("sigma", "p"))
    rep = read_snapshots(out["path"], ("U",), qp_fields=("sigma", "p"))
    assert np.array_equal(rep["time"], ref["time"])
    for name in ("qp/sigma", "qp/p"):
        scale = np.abs(ref[name]).max()
        assert np.abs(rep[name] - ref[name]).max() <= 1e-8 * scale, name
    assert ref["qp/p"].max() > 1e-4  # inelastic
    assert max(out["residuals"]) <= 10 * case.solver.rtol
