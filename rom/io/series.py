"""Time series of nodal results in meshio's formats: XDMF (HDF5 heavy data) and VTK
XML unstructured grids (``.vtu``, one file per time, gathered by a ParaView ``.pvd``
collection or numbered).

Both readers return :class:`rom.io.results.NodalResults`: the nodes numbered 1..n in
the file's order, their coordinates, the times, the nodal displacements and, when the
file has them, the nodal temperatures. 2D results (``XY`` geometry, 2-component
displacements) are padded with a zero z.

The arrays are found by name among the nodal (point) arrays: the displacement among
:data:`DISPLACEMENT_NAMES` (``U``, ``Displacement``, ...; ``f`` and ``f_<n>``, the
default names of a DOLFINx and of a legacy FEniCS function) with 2 or 3 components,
the temperature among :data:`TEMPERATURE_NAMES` with one, unless named by the caller.
A name given but absent, no displacement, or several candidates, raise
:class:`rom.RomError` listing the arrays the file has.

The formats are ``xdmf`` and ``vtu`` of :data:`rom.io.RESULT_FORMATS`.
"""

import glob
import os
import re
from xml.etree import ElementTree as ET

import numpy as np

from rom import RomError
from rom.io.results import NodalResults

__all__ = ["read_xdmf_field", "read_xdmf_series", "read_vtu_series", "DISPLACEMENT_NAMES",
           "TEMPERATURE_NAMES"]

DISPLACEMENT_NAMES = ("U", "u", "Displacement", "displacement", "Displacements",
                      "displacements", "DISP", "disp", "DEPL", "f")
TEMPERATURE_NAMES = ("T", "Temperature", "temperature", "TEMP", "temp", "NT11", "NDTEMP")
_LEGACY_FENICS_NAME = re.compile(r"f_\d+$")


# --- choosing the arrays and assembling the results -----------------------------------

def _components(values):
    values = np.asarray(values)
    return 1 if values.ndim == 1 else int(np.prod(values.shape[1:]))


def _is_candidate(name, given):
    return (name in given or name in DISPLACEMENT_NAMES or name in TEMPERATURE_NAMES
            or bool(_LEGACY_FENICS_NAME.match(name)))


class _Steps:
    """The nodal arrays of a series' steps, gathered as they are read. Only the arrays
    that may be chosen (the names given, the usual names) are kept; every array seen
    is recorded with its number of components, for the messages."""

    def __init__(self, source, displacement, temperature):
        self.source = source
        self.given = {n for n in (displacement, temperature) if n}
        self.displacement = displacement
        self.temperature = temperature
        self.steps = {}  # time -> {name: values}
        self.seen = {}  # name -> number of components
        self.last = None

    def keep(self, point_data):
        """The arrays of ``point_data`` that may be chosen."""
        for name, values in point_data.items():
            self.seen.setdefault(name, _components(values))
        return {n: v for n, v in point_data.items() if _is_candidate(n, self.given)}

    def sequence(self):
        """Start a sequence of steps (a temporal collection) whose times increase."""
        self.last = None

    def add(self, t, arrays, where):
        """Add the arrays of time ``t`` (``where`` names the step in messages); the
        arrays of a time read before (in another sequence) are merged."""
        t = float(t)
        if self.last is not None and not t > self.last:
            raise RomError(f"{self.source}: the times are not increasing ({where}: t = "
                           f"{t:g} after t = {self.last:g})")
        self.last = t
        step = self.steps.setdefault(t, {})
        for name, values in arrays.items():
            if name in step:
                raise RomError(f"{self.source}: two nodal arrays '{name}' at t = {t:g} "
                               f"({where})")
            step[name] = values

    def listing(self):
        return ", ".join(f"{n} ({c})" for n, c in self.seen.items()) or "none"

    def _choose(self, given, names, components, what, keyword):
        if given:
            if given not in self.seen:
                raise RomError(f"{self.source}: no nodal array '{given}' ({what}); its "
                               f"nodal arrays (components): {self.listing()}")
            return given
        found = [n for n, c in self.seen.items() if c in components and (
            n in names or (what == "displacement" and _LEGACY_FENICS_NAME.match(n)))]
        if len(found) > 1:
            raise RomError(f"{self.source}: several nodal arrays may be the {what} "
                           f"({', '.join(found)}); name one with {keyword}=... (its "
                           f"nodal arrays (components): {self.listing()})")
        return found[0] if found else None

    def results(self, points):
        """:class:`NodalResults` of the steps, with the nodes ``points`` ``(n, 2|3)``."""
        if not self.steps:
            raise RomError(f"{self.source}: no time step")
        times = sorted(self.steps)
        d_name = self._choose(self.displacement, DISPLACEMENT_NAMES, (2, 3), "displacement",
                              "displacement")
        if d_name is None:
            raise RomError(f"{self.source}: no displacement among its nodal arrays "
                           f"(components): {self.listing()}; name it with "
                           "displacement=...")
        t_name = None
        if self.temperature is not False:
            t_name = self._choose(self.temperature, TEMPERATURE_NAMES, (1,), "temperature",
                                  "temperature")
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise RomError(f"{self.source}: points of shape {points.shape}, (n, 2) or "
                           "(n, 3) expected")
        n = len(points)
        displacement = np.zeros((len(times), n, 3))
        temperature = np.zeros((len(times), n)) if t_name else None
        for k, t in enumerate(times):
            arrays = self.steps[t]
            for name, out in ((d_name, displacement), (t_name, temperature)):
                if name is None:
                    continue
                if name not in arrays:
                    raise RomError(f"{self.source}: no nodal array '{name}' at t = {t:g}")
                v = np.asarray(arrays[name], dtype=float)
                v = v.reshape(len(v), -1) if v.ndim else v
                c = (2, 3) if out is displacement else (1,)
                if v.ndim != 2 or len(v) != n or v.shape[1] not in c:
                    raise RomError(f"{self.source}: nodal array '{name}' at t = {t:g} has "
                                   f"shape {np.shape(arrays[name])}, not ({n}, "
                                   f"{' or '.join(map(str, c))}) for {n} nodes")
                if out is displacement:
                    out[k, :, :v.shape[1]] = v
                else:
                    out[k] = v[:, 0]
        xyz = np.zeros((n, 3))
        xyz[:, :points.shape[1]] = points
        return NodalResults(source=self.source, node_ids=np.arange(1, n + 1), points=xyz,
                            times=np.array(times), displacement=displacement,
                            temperature=temperature)


# --- XDMF -------------------------------------------------------------------------------

def _parse_xml(path, what):
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise RomError(f"{path}: not a readable {what} file ({exc}): truncated or "
                       "damaged?") from None
    except OSError as exc:
        raise RomError(f"cannot read {path}: {exc}") from None


def _check_heavy_data(path, root):
    """Every HDF5 (and raw binary) file the XDMF file ``path`` names exists and opens."""
    import h5py

    folder = os.path.dirname(os.path.abspath(path))
    files = {}
    for item in root.iter("DataItem"):
        fmt = item.get("Format", "XML")
        if fmt in ("HDF", "Binary") and item.text and item.text.strip():
            name = item.text.strip().split(":")[0] if fmt == "HDF" else item.text.strip()
            files.setdefault(os.path.join(folder, name), fmt)
    for name, fmt in files.items():
        if not os.path.isfile(name):
            raise RomError(f"{path}: its {'HDF5' if fmt == 'HDF' else 'binary'} data file "
                           f"{name} does not exist")
        if fmt == "HDF":
            try:
                h5py.File(name, "r").close()
            except OSError as exc:
                raise RomError(f"{path}: cannot open its HDF5 file {name}: {exc} "
                               "(truncated or damaged?)") from None


def _temporal_collections(domain):
    return [g for g in domain.findall("Grid") if g.get("GridType") == "Collection"
            and g.get("CollectionType") == "Temporal"]


def read_xdmf_series(path, displacement=None, temperature=None):
    """Read an XDMF (v3) time series with meshio's ``TimeSeriesReader``.

    Parameters
    ----------
    path : str
        The ``.xdmf`` (or ``.xmf``) file; its heavy data (HDF5) is found relative to it.
    displacement, temperature : str, optional
        Names of the nodal arrays, found among the usual names when not given
        (module docstring); ``temperature=False`` reads no temperature.

    Returns
    -------
    rom.io.results.NodalResults
        Nodes 1..n in the order of the file's geometry, the times of its temporal
        collection, displacement ``(k, n, 3)``, temperature ``(k, n)`` or None.

    Every temporal collection of the file is read and the arrays of equal times
    merged: DOLFINx writes one collection per function (meshio's reader alone reads
    only the last). The mesh is the first uniform grid of the domain with a geometry.
    Serial: call it on each rank that needs the results. Raises
    :class:`rom.RomError` naming the file for a missing, truncated or damaged XDMF
    or HDF5 file, times that do not increase, or arrays not found.
    """
    import meshio

    from rom.io.orderings import register_meshio_cell_types

    register_meshio_cell_types()  # wedge15, pyramid13 (meshio 5.0 lacks them)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RomError(f"result file not found: {path}")
    root = _parse_xml(path, "XDMF")
    if root.tag != "Xdmf" or root.find("Domain") is None:
        raise RomError(f"{path}: not an XDMF file (root element <{root.tag}>, or no "
                       "<Domain>)")
    if not _temporal_collections(root.find("Domain")):
        raise RomError(f"{path}: no temporal collection (GridType=\"Collection\", "
                       "CollectionType=\"Temporal\"): not a time series")
    _check_heavy_data(path, root)
    steps = _Steps(path, displacement, temperature)
    errors = (meshio.ReadError, OSError, KeyError, ValueError, IndexError)
    try:
        reader = meshio.xdmf.TimeSeriesReader(path)
    except errors as exc:
        raise RomError(f"{path}: meshio cannot read it as an XDMF time series: "
                       f"{_describe(exc)}") from None
    with reader:
        # meshio takes the last uniform grid of the domain for the mesh, and the last
        # temporal collection: choose them here, on its (parsed) tree
        meshes = [g for g in reader.domain.findall("Grid") if g.get("GridType", "Uniform")
                  == "Uniform" and g.find("Geometry") is not None]
        if meshes:
            reader.mesh_grid = meshes[0]
        try:
            points, _ = reader.read_points_cells()
        except errors as exc:
            raise RomError(f"{path}: cannot read the mesh: {_describe(exc)}") from None
        if points is None:
            raise RomError(f"{path}: its mesh has no geometry")
        for grid in _temporal_collections(reader.domain):
            name = grid.get("Name", "")
            reader.collection = grid.findall("Grid")
            steps.sequence()
            for k, step in enumerate(reader.collection):
                where = f"step {k} of collection '{name}'"
                if step.get("GridType") == "Collection":
                    raise RomError(f"{path}: {where} is a spatial collection (pieces), "
                                   "which this reader does not merge")
                try:
                    t, point_data, _ = reader.read_data(k)
                except errors as exc:
                    raise RomError(f"{path}: cannot read {where}: {_describe(exc)} "
                                   "(truncated or damaged HDF5 data?)") from None
                steps.add(t, steps.keep(point_data), where)
    return steps.results(points)


def read_xdmf_field(path, name):
    """The nodal array ``name`` of an XDMF file that holds one field: a temporal
    collection with that array at one time step (the files of ``run.py thermal``,
    ParaView's and DOLFINx's of a single step). None when the file has no temporal
    collection (a plain mesh file: meshio reads it). Raises :class:`rom.RomError`
    naming the file when the array is missing, is at several time steps (which one
    would be ambiguous), or the file is damaged."""
    import meshio

    from rom.io.orderings import register_meshio_cell_types

    register_meshio_cell_types()
    root = _parse_xml(path, "XDMF")
    domain = root.find("Domain")
    if root.tag != "Xdmf" or domain is None or not _temporal_collections(domain):
        return None
    _check_heavy_data(path, root)
    errors = (meshio.ReadError, OSError, KeyError, ValueError, IndexError)
    found = []
    try:
        with meshio.xdmf.TimeSeriesReader(path) as reader:
            meshes = [g for g in reader.domain.findall("Grid")
                      if g.get("GridType", "Uniform") == "Uniform"
                      and g.find("Geometry") is not None]
            if meshes:
                reader.mesh_grid = meshes[0]
            reader.read_points_cells()
            for grid in _temporal_collections(reader.domain):
                reader.collection = grid.findall("Grid")
                for k in range(len(reader.collection)):
                    t, point_data, _ = reader.read_data(k)
                    if name in point_data:
                        found.append((t, point_data[name]))
    except errors as exc:
        raise RomError(f"{path}: meshio cannot read it as an XDMF time series: "
                       f"{_describe(exc)}") from None
    if not found:
        raise RomError(f"{path} has no nodal array '{name}' in its time steps")
    if len(found) > 1:
        raise RomError(f"{path} holds '{name}' at {len(found)} time steps "
                       f"({', '.join(f'{t:g}' for t, _ in found[:5])}...): a field file "
                       "gives one field (one file per time in [[temperature.fields]])")
    return np.asarray(found[0][1])


# --- VTU series ---------------------------------------------------------------------------

def _natural_key(path):
    """Sort key of a file name by its numbers: ``u_2.vtu`` before ``u_10.vtu``."""
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", os.path.basename(path))]


def _pvd_datasets(path):
    """``[(file, timestep or None)]`` of the PVD collection ``path``."""
    root = _parse_xml(path, "PVD")
    if root.tag != "VTKFile" or root.get("type") != "Collection":
        raise RomError(f"{path}: not a PVD collection (root <{root.tag}> of type "
                       f"{root.get('type')!r})")
    datasets = root.findall("Collection/DataSet")
    if not datasets:
        raise RomError(f"{path}: its collection names no dataset")
    if any(d.get("part", "0") not in ("", "0") for d in datasets):
        raise RomError(f"{path}: datasets in several parts (multi-block), which this "
                       "reader does not merge")
    folder = os.path.dirname(os.path.abspath(path))
    out = []
    for d in datasets:
        name = d.get("file")
        if not name:
            raise RomError(f"{path}: a <DataSet> without a file attribute")
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            raise RomError(f"{path}: names {name}, which does not exist ({file})")
        t = d.get("timestep")
        try:
            out.append((file, None if t is None else float(t)))
        except ValueError:
            raise RomError(f"{path}: timestep '{t}' of {name} is not a number") from None
    return out


def _series_files(path):
    """``(source, [(file, time or None)])`` of a PVD file, a .vtu file, a glob pattern or
    a list of files."""
    if isinstance(path, (list, tuple)):
        files = [os.fspath(p) for p in path]
        if not files:
            raise RomError("no result file given")
        source = f"{files[0]} ... ({len(files)} files)" if len(files) > 1 else files[0]
    else:
        path = os.fspath(path)
        source = path
        if path.lower().endswith(".pvd"):
            if not os.path.isfile(path):
                raise RomError(f"result file not found: {path}")
            return source, _pvd_datasets(path)
        if os.path.isfile(path) or not any(c in path for c in "*?["):
            files = [path]
        else:
            files = sorted(glob.glob(path), key=_natural_key)
            if not files:
                raise RomError(f"no file matches {path}")
    for f in files:
        if not os.path.isfile(f):
            raise RomError(f"result file not found: {f}")
    return source, [(f, None) for f in files]


def _read_vtu(file):
    import meshio

    from rom.io.orderings import register_meshio_cell_types

    register_meshio_cell_types()  # wedge15, pyramid13 (meshio 5.0 lacks them)
    try:
        return meshio.vtu.read(file)
    # meshio's failures on a damaged file are of many kinds (ReadError, ParseError,
    # zlib errors, ValueError, AssertionError...): all mean the same here
    except Exception as exc:
        why = f"meshio: {_describe(exc)}"
    try:  # the reason, when it is that the XML ends early or is damaged
        ET.parse(file)
    except ET.ParseError as exc:
        why += f"; as XML: {exc}"
    raise RomError(f"{file}: cannot read it as a .vtu file ({why}): truncated or "
                   "damaged?")


def _describe(exc):
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _time_value(mesh):
    v = mesh.field_data.get("TimeValue")
    return None if v is None or np.size(v) != 1 else float(np.ravel(v)[0])


def _all_or_none(values, source, what):
    """``values`` if none is None, None if all are, else an error."""
    given = [v is not None for v in values]
    if all(given):
        return values
    if any(given):
        raise RomError(f"{source}: {sum(given)} of {len(values)} files have a {what}")
    return None


def read_vtu_series(path, displacement=None, temperature=None):
    """Read a series of VTK XML unstructured grids (``.vtu``), one per time.

    Parameters
    ----------
    path : str or list of str
        A ParaView ``.pvd`` collection (its ``DataSet`` files, relative to it, in its
        order); a single ``.vtu`` file; a glob pattern (``"out/u_*.vtu"``), its files
        in the order of the numbers in their names (``u_2`` before ``u_10``); or a list
        of files, in the order given.
    displacement, temperature : str, optional
        Names of the nodal arrays (see :func:`read_xdmf_series`).

    Returns
    -------
    rom.io.results.NodalResults
        Nodes 1..n in the order of the first file's points (every file must have the
        same points). The time of each file is the PVD's ``timestep``, else the file's
        ``TimeValue`` field data (as ParaView writes it), else its position 1, 2, ...
        in the series.

    Serial. Raises :class:`rom.RomError` naming the file for a missing or damaged file
    (a PVD naming a missing file, a truncated .vtu), times that do not increase,
    points that differ between files, or arrays not found.
    """
    source, datasets = _series_files(path)
    steps = _Steps(source, displacement, temperature)
    points = None
    read = []  # (file, TimeValue or None, arrays kept)
    for file, _ in datasets:
        mesh = _read_vtu(file)
        if points is None:
            points = mesh.points
            size = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
        elif mesh.points.shape != points.shape or (
                len(points) and np.abs(mesh.points - points).max() > 1e-9 * size):
            raise RomError(f"{file}: its points differ from those of {datasets[0][0]} "
                           f"({len(mesh.points)} and {len(points)} points)")
        read.append((file, _time_value(mesh), steps.keep(mesh.point_data)))
    times = _all_or_none([t for _, t in datasets], source, "timestep")
    if times is None:
        times = _all_or_none([t for _, t, _ in read], source, "TimeValue")
    if times is None:
        times = [float(k + 1) for k in range(len(read))]
    for (file, _, arrays), t in zip(read, times):
        steps.add(t, arrays, file)
    return steps.results(points)
