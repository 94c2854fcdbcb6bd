"""Loads: time tables, nodal temperature fields, Dirichlet, pressure, centrifugal.

External forces are affine in their magnitudes and time factors:
``F_ext(t) = sum_k a_k table_k(t)^power_k F_k`` with ``F_k`` the force of a *unit*
load term, computed once (:class:`LoadTerm`: a unit pressure on a face set, a
centrifugal body force with ``rho omega^2 = 1`` about an axis), ``a_k`` the case's
magnitude (the pressure value, ``rho omega^2``) and ``table_k`` its time table. The
unit terms give the reduced load operators of a ROM, so that a ROM runs at any
magnitude and time table of the same load supports.
"""

import os
from dataclasses import dataclass

import numpy as np

from rom import RomError
from rom.fem import FaceBasis, get_element
from rom.mesh import evaluate_expression

__all__ = ["TimeTable", "NodeSubset", "TemperatureLoading", "Loading", "LoadTerm", "load_terms",
           "support_signatures", "require_homogeneous_dirichlet"]


class TimeTable:
    """Piecewise-linear factor of time ``[[t, f], ...]`` (constant 1 when ``None``);
    held constant outside the table."""

    def __init__(self, rows=None):
        self.rows = None if rows is None else np.asarray(rows, dtype=float)

    def __call__(self, t):
        if self.rows is None:
            return 1.0
        return float(np.interp(t, self.rows[:, 0], self.rows[:, 1]))


@dataclass(frozen=True)
class LoadTerm:
    """One affine term of the external forces: ``magnitude * table(t)**power`` times
    the force of the unit load ``name`` (``"pressure:<set>"``: unit pressure on a face
    set; ``"centrifugal"``: body force ``r_perp`` of ``rho omega^2 = 1`` about the
    axis ``axis = (point, unit direction)``)."""

    name: str
    magnitude: float
    table: TimeTable
    power: int
    axis: tuple = None

    def factor(self, t):
        return self.magnitude * self.table(t) ** self.power


def load_terms(case):
    """The :class:`LoadTerm` of ``case`` (pressures, then the centrifugal load); no
    mesh is needed."""
    terms = [LoadTerm(f"pressure:{p.set}", p.value, TimeTable(p.table), 1)
             for p in case.pressure]
    c = case.centrifugal
    if c is not None:
        axis = np.asarray(c.axis_direction, dtype=float)
        axis = tuple((axis / np.linalg.norm(axis)).tolist())
        terms.append(LoadTerm("centrifugal", case.density * c.omega ** 2, TimeTable(c.table),
                              2, (tuple(c.axis_point), axis)))
    return terms


def _digest(ids):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]


def support_signatures(data, case):
    """What a ROM's operators depend on, beyond the mesh: ``(dirichlet, pressure)`` with
    ``dirichlet`` a text ``"set:components:hash;..."`` (components merged per set, the
    hash of the set's sorted global node ids) and ``pressure`` a dict
    ``{"pressure:<set>": hash of its sorted faces}``. ``data`` is the global
    :class:`rom.mesh.MeshData` with the case's set definitions."""
    comps = {}
    for d in case.dirichlet:
        comps.setdefault(d.set, set()).update(d.components)
    dirichlet = ";".join(f"{name}:{''.join(map(str, sorted(comps[name])))}:"
                         f"{_digest(np.unique(data.node_set(name)))}" for name in sorted(comps))
    pressure = {}
    for p in case.pressure:
        conn = data.face_set(p.set)[2]
        faces = np.unique(np.sort(conn, axis=1), axis=0) if len(conn) else conn
        pressure[f"pressure:{p.set}"] = _digest(faces)
    return dirichlet, pressure


def require_homogeneous_dirichlet(case):
    """A ROM's modes vanish on the Dirichlet supports: a prescribed non-zero
    displacement cannot be represented (:class:`rom.RomError`)."""
    for d in case.dirichlet:
        if d.expression is not None or d.value != 0.0:
            raise RomError(f"{os.path.basename(case.path)}: the Dirichlet condition on "
                           f"'{d.set}' is not homogeneous; the ROM supports zero prescribed "
                           "displacements only")


@dataclass
class NodeSubset:
    """Nodes on which nodal loadings are evaluated, without a mesh: their coordinates
    ``points (k, 3)``, global ids ``node_ids (k,)``, the mesh file's point index of each
    ``node_file_ids (k,)`` (temperature files may be in the file's numbering) and the
    counts ``n_nodes_global`` and ``n_file_points`` that tell a file's numbering. The
    distributed :class:`rom.mesh.Mesh` has the same attributes for its local nodes."""

    points: np.ndarray
    node_ids: np.ndarray
    node_file_ids: np.ndarray
    n_nodes_global: int
    n_file_points: int

    @property
    def n_local_nodes(self):
        return len(self.points)

    @classmethod
    def of_mesh(cls, data):
        """Every node of the :class:`rom.mesh.MeshData` ``data``."""
        return cls(data.points, np.arange(data.n_nodes), data.file_node_ids, data.n_nodes,
                   data.n_file_points)


class TemperatureLoading:
    """Nodal temperature ``T(x, t)``: a sequence of (time, field) pairs, linear in time.

    Fields are a uniform ``value``, an ``expression`` of x, y, z, t, or a ``file``:
    ``.npy``, HDF5 (``.h5``/``.hdf5``, dataset ``name``) or any meshio-readable file
    (point-data array ``name``), with one value per mesh node (global numbering) or
    per point of the mesh file. Without any field the temperature is ``T_ref``.
    """

    def __init__(self, specs, mesh, T_default):
        """``mesh``: a :class:`rom.mesh.Mesh` (its local nodes) or a
        :class:`NodeSubset`."""
        self.mesh = mesh
        self.specs = tuple(specs)
        self.T_default = float(T_default)
        self._files = {}

    def _field(self, spec, t):
        pts = self.mesh.points
        if spec.value is not None:
            return np.full(len(pts), spec.value)
        if spec.expression is not None:
            v = evaluate_expression(spec.expression, pts, extra={"t": t},
                                    what="temperature expression").astype(float)
        else:
            v = self._read(spec)
        if not np.all(np.isfinite(v)):
            where = f"'{spec.expression}' at t = {t:g}" if spec.expression else spec.file
            raise RomError(f"temperature field {where} has NaN or inf values at "
                           f"{np.sum(~np.isfinite(v))} node(s)")
        return v

    def _read(self, spec):
        key = (spec.file, spec.name)
        if getattr(spec, "thermal", None) is not None and not os.path.isfile(spec.file):
            raise RomError("the temperature field of the thermal problem with "
                           + ", ".join(f"{k} = {v:g}" for k, v in spec.thermal)
                           + f" is not computed yet ({spec.file}): run 'python run.py "
                           "thermal CASE' first")
        if key not in self._files:
            self._files[key] = _read_nodal_file(spec.file, spec.name, self.mesh)
        return self._files[key]

    def nodal(self, t):
        """Temperatures ``(n_local_nodes,)`` at time ``t``."""
        if not self.specs:
            return np.full(self.mesh.n_local_nodes, self.T_default)
        times = [s.time for s in self.specs]
        if len(self.specs) == 1 or t <= times[0]:
            return self._field(self.specs[0], t)
        if t >= times[-1]:
            return self._field(self.specs[-1], t)
        k = int(np.searchsorted(times, t, side="right")) - 1
        a = (t - times[k]) / (times[k + 1] - times[k])
        return (1 - a) * self._field(self.specs[k], t) + a * self._field(self.specs[k + 1], t)


def _read_nodal_file(path, name, mesh):
    """Values ``(n_local_nodes,)`` of a nodal scalar field stored in a file."""
    if not os.path.isfile(path):
        raise RomError(f"temperature file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            arr = np.load(path)
        elif ext in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if name not in f:
                    raise RomError(f"temperature file {path} has no dataset '{name}'")
                arr = f[name][...]
        else:
            import meshio

            m = meshio.read(path)
            if name not in m.point_data:
                raise RomError(f"temperature file {path} has no point data '{name}' "
                               f"(it has: {', '.join(m.point_data) or 'none'})")
            arr = m.point_data[name]
    except RomError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise RomError(f"cannot read temperature file {path}: {exc}") from None
    arr = np.asarray(arr, dtype=float).reshape(len(arr), -1)[:, 0] if np.ndim(arr) else arr
    if np.ndim(arr) != 1:
        raise RomError(f"temperature file {path}: expected one value per node")
    if len(arr) == mesh.n_nodes_global:
        return arr[mesh.node_ids]
    if len(arr) == mesh.n_file_points:
        return arr[mesh.node_file_ids]
    raise RomError(f"temperature file {path} has {len(arr)} values, the mesh has "
                   f"{mesh.n_nodes_global} nodes ({mesh.n_file_points} points in its file)")


class Loading:
    """All loads of a case on one rank.

    Attributes
    ----------
    temperature : TemperatureLoading
    force_terms : list of (LoadTerm, local unit force array (n_local_dofs,))
        ``F_ext(t) = sum term.factor(t) * F``, element contributions summed on this
        rank (ghost contributions are added to their owners at assembly).
    """

    def __init__(self, case, model):
        """Collective (the sizes of the sets are summed over the ranks: a set that
        selects nothing is an error that names it)."""
        mesh = model.mesh
        self.mesh = mesh
        self.temperature = TemperatureLoading(case.temperature, mesh,
                                              getattr(model.law, "T_ref", 20.0))
        self.dirichlet = []
        for d in case.dirichlet:
            nodes = mesh.node_set(d.set)
            dofs = (3 * nodes[:, None] + np.array(d.components)).ravel()
            self.dirichlet.append((dofs, nodes, d, TimeTable(d.table)))
        self.force_terms = []
        dm = model.dofmap
        for term in load_terms(case):
            if term.axis is None:  # a unit pressure on a face set
                cells, _, conn = mesh.face_set(term.name.split(":", 1)[1])
                fe = get_element(mesh.element.face_type)
                F = np.zeros(dm.n_local)
                if len(conn):
                    basis = FaceBasis(fe, mesh.points[conn])
                    f = basis.pressure_forces(np.ones(basis.nA.shape[:2]))
                    dofs = (3 * conn[:, :, None] + np.arange(3)).ravel()
                    F = np.bincount(dofs, weights=f.ravel(), minlength=dm.n_local)
            else:  # a centrifugal body force of unit rho omega^2
                point, axis = (np.asarray(a) for a in term.axis)

                def body(x, point=point, axis=axis):
                    r = x - point
                    return r - np.einsum("...k,k->...", r, axis)[..., None] * axis

                F = model.body_force_vector(body)
            self.force_terms.append((term, F))
        counts = [len(mesh.node_set(d.set, owned_only=True)) for d in case.dirichlet]
        counts += [int(np.sum(np.abs(F) > 0)) for _, F in self.force_terms]
        counts = mesh.comm.allreduce(np.array(counts, dtype=np.int64))
        src = os.path.basename(case.path)
        for i, d in enumerate(case.dirichlet):
            if counts[i] == 0:
                raise RomError(f"{src}: [[dirichlet]] #{i + 1}: set '{d.set}' selects no "
                               f"node of {os.path.basename(mesh.source)}")
        for i, p in enumerate(case.pressure):
            if counts[len(case.dirichlet) + i] == 0:
                raise RomError(f"{src}: [[pressure]] #{i + 1}: set '{p.set}' selects no "
                               f"face of {os.path.basename(mesh.source)} (or its area is 0)")

    def external_forces(self, t):
        """Local external force array ``(n_local_dofs,)`` at time ``t`` (not yet summed
        over ranks)."""
        F = np.zeros(self.mesh.n_local_nodes * 3)
        for term, Fk in self.force_terms:
            F += term.factor(t) * Fk
        return F

    def dirichlet_values(self, t):
        """``(local dofs, values)`` of the prescribed displacements at time ``t``."""
        if not self.dirichlet:
            return np.zeros(0, np.int64), np.zeros(0)
        dofs, vals = [], []
        for d, nodes, spec, tab in self.dirichlet:
            if spec.expression is None:
                v = np.full(len(d), spec.value)
            else:
                v = evaluate_expression(spec.expression, self.mesh.points[nodes],
                                        extra={"t": t}, what="Dirichlet expression")
                v = np.repeat(v.astype(float), len(spec.components))
            dofs.append(d)
            vals.append(v * tab(t))
        return np.concatenate(dofs), np.concatenate(vals)
