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

from rom import RomError, agree
from rom.fem import FaceBasis, get_element
from rom.mesh import evaluate_expression

__all__ = ["TimeTable", "NodeSubset", "TemperatureLoading", "Loading", "LoadTerm", "load_terms",
           "support_signatures", "require_homogeneous_dirichlet", "require_affine_loads",
           "support_face_matrices", "file_face_keys"]


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
    set; ``"pressure:<set>:<digest>"``: the pressure field ``field`` on it, magnitude 1;
    ``"centrifugal"``: body force ``r_perp`` of ``rho omega^2 = 1`` about the axis
    ``axis = (point, unit direction)``).

    ``field``: ``("expression", text, depends_on_t)``, ``("file", path, name)`` (nodal
    values) or ``("face file", path, name)`` (one value per surface element of the
    set, in the mesh file's order: :func:`file_face_keys`); an expression of t is not
    affine in time (the HF solver evaluates it at every step; a ROM refuses it:
    :func:`require_affine_loads`)."""

    name: str
    magnitude: float
    table: TimeTable
    power: int
    axis: tuple = None
    field: tuple = None

    def factor(self, t):
        return self.magnitude * self.table(t) ** self.power

    @property
    def set(self):
        """The face set of a pressure term."""
        return self.name.split(":")[1] if self.axis is None else None

    @property
    def time_dependent(self):
        return self.field is not None and self.field[0] == "expression" and self.field[2]


def _uses_t(expr):
    """Does the expression ``expr`` use the name ``t``? (False if it does not compile:
    its evaluation reports the error.)"""
    try:
        code = compile(expr, "<pressure expression>", "eval")
    except SyntaxError:
        return False
    return "t" in code.co_names


def _pressure_term(p):
    """The :class:`LoadTerm` of a :class:`rom.case.PressureSpec`."""
    import hashlib

    if p.value is not None:
        return LoadTerm(f"pressure:{p.set}", p.value, TimeTable(p.table), 1)
    if p.expression is not None:
        key = p.expression.strip().encode()
        field = ("expression", p.expression, _uses_t(p.expression))
    else:
        try:
            with open(p.file, "rb") as f:
                key = f.read() + f"\0{p.name}".encode()
        except OSError:
            raise RomError(f"pressure file not found: {p.file}") from None
        if p.per == "face":
            key += b"\0per face"
        field = ("face file" if p.per == "face" else "file", p.file, p.name)
    digest = hashlib.sha256(key).hexdigest()[:12]
    return LoadTerm(f"pressure:{p.set}:{digest}", 1.0, TimeTable(p.table), 1, field=field)


def load_terms(case):
    """The :class:`LoadTerm` of ``case`` (pressures, then the centrifugal load); no
    mesh is needed."""
    terms = [_pressure_term(p) for p in case.pressure]
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


def file_face_keys(data, name):
    """The surface elements of face set ``name`` as the mesh file lists them: ``(n_faces,
    n_corners)`` int64, each face's corner node ids (global numbering) sorted, in the
    file's order (what per-face values follow). ``data``: the global
    :class:`rom.mesh.MeshData`. Raises :class:`rom.RomError` for a set defined by a
    predicate in the case (no file order), a set without surface elements, a set of
    several face types (the reader keeps the order within a type only), or a face
    listed twice."""
    what = f"face set '{name}' of {os.path.basename(data.source)}"
    if name in data.definitions:
        raise RomError(f"set '{name}' is defined by a predicate in the case file: a "
                       "geometric set has no file order, and per-face values need one (a "
                       "face set of the mesh file: an Abaqus *SURFACE, a gmsh physical "
                       "surface, a Z-set faset)")
    g = data.element_groups.get(name)
    if g is None or not g["faces"]:
        data.face_set(name)  # raises: no such set, or one without surface elements
        raise RomError(f"set '{name}' in {data.source} holds no surface elements")
    if len(g["faces"]) > 1:
        raise RomError(f"{what} has surface elements of several types "
                       f"({', '.join(g['faces'])}): their order in the file is not kept, "
                       "per-face values cannot follow it")
    (ftype, conn), = g["faces"].items()
    keys = np.sort(conn[:, :get_element(ftype).n_corners], axis=1).astype(np.int64)
    if len(np.unique(keys, axis=0)) != len(keys):
        raise RomError(f"{what} lists a face twice: per-face values would be ambiguous")
    return keys


def _rows_in(keys, table):
    """Index of each row of ``keys (k, m)`` in ``table (n, m)`` (rows distinct), -1
    for a row not in it."""
    if not len(keys):
        return np.zeros(0, np.int64)
    both = np.vstack([table, keys])
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.ravel()
    where = np.full(inv.max() + 1, -1, dtype=np.int64)
    where[inv[:len(table)]] = np.arange(len(table))
    return where[inv[len(table):]]


def _read_face_values(path, name, n, set_name):
    """The ``(n,)`` per-face values of a ``.npy`` file or HDF5 dataset ``name``."""
    if not os.path.isfile(path):
        raise RomError(f"pressure file not found: {path}")
    try:
        if path.endswith(".npy"):
            arr = np.load(path)
        else:
            import h5py

            with h5py.File(path, "r") as f:
                if name not in f:
                    raise RomError(f"pressure file {path} has no dataset '{name}'")
                arr = f[name][...]
        arr = np.asarray(arr, dtype=float)
    except RomError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise RomError(f"cannot read pressure file {path}: {exc}") from None
    if arr.ndim != 1 or len(arr) != n:
        raise RomError(f"pressure file {path} has {arr.size} value(s) in shape "
                       f"{arr.shape}; face set '{set_name}' has {n} surface elements (per "
                       "= 'face': one value per surface element, in the mesh file's order)")
    if not np.all(np.isfinite(arr)):
        raise RomError(f"pressure file {path}: {np.sum(~np.isfinite(arr))} value(s) are "
                       "NaN or inf")
    return arr


def support_signatures(data, case):
    """What a ROM's operators depend on, beyond the mesh: ``(dirichlet, pressure)`` with
    ``dirichlet`` a text ``"set:components:hash;..."`` (components merged per set, the
    hash of the set's sorted global node ids) and ``pressure`` a dict
    ``{pressure term name or "support:<set>": hash of its set's sorted faces}`` (of
    its faces in the file's order for per-face values: their order matters).
    ``data`` is the global :class:`rom.mesh.MeshData` with the case's set
    definitions."""
    comps = {}
    for d in case.dirichlet:
        comps.setdefault(d.set, set()).update(d.components)
    dirichlet = ";".join(f"{name}:{''.join(map(str, sorted(comps[name])))}:"
                         f"{_digest(np.unique(data.node_set(name)))}" for name in sorted(comps))
    pressure = {}
    names = [(t.name, t.set, _per_face(t)) for t in load_terms(case) if t.axis is None]
    names += [(f"support:{sp.set}", sp.set, False) for sp in case.supports]
    for name, set_name, per_face in names:
        if per_face:
            pressure[name] = _digest(file_face_keys(data, set_name))
            continue
        faces = [np.unique(np.sort(g[2], axis=1), axis=0)
                 for g in data.face_groups(set_name).values() if len(g[2])]
        pressure[name] = _digest(np.concatenate([f.ravel() for f in faces]) if faces
                                 else np.zeros(0))
    return dirichlet, pressure


def _per_face(term):
    """Does ``term`` give one pressure value per surface element of its set?"""
    return term.field is not None and term.field[0] == "face file"


def support_face_matrices(face_element, X):
    """Unit stiffness matrices of an elastic support on faces ``X (f, a, 3)``:
    ``(Kn, Kt)``, each ``(f, 3a, 3a)`` in node-major dofs, ``Kn = sum_q w N_a N_b n n^T``
    and ``Kt = sum_q w N_a N_b (I - n n^T)`` (n the unit normal at the quadrature
    point, w its area weight)."""
    if not len(X):
        z = np.zeros((0, 3 * X.shape[1], 3 * X.shape[1]))
        return z, z.copy()
    basis = FaceBasis(face_element, X)
    dA = np.linalg.norm(basis.nA, axis=2)  # (f, q)
    n = basis.nA / dA[..., None]
    nn = np.einsum("fqi,fqj->fqij", n, n)
    f, a = X.shape[:2]
    m = np.einsum("fq,qa,qb->fqab", dA, basis.N, basis.N)
    Kn = np.einsum("fqab,fqij->faibj", m, nn).reshape(f, 3 * a, 3 * a)
    Kt = np.einsum("fab,ij->faibj", m.sum(axis=1), np.eye(3)).reshape(f, 3 * a, 3 * a) - Kn
    return Kn, Kt


def require_affine_loads(case):
    """A ROM holds one reduced vector per load term: a pressure expression of t (not a
    field of x, y, z times a table) cannot be reduced (:class:`rom.RomError`)."""
    for i, term in enumerate(load_terms(case)):
        if term.time_dependent:
            raise RomError(f"{os.path.basename(case.path)}: [[pressure]] #{i + 1} on "
                           f"'{term.set}': the expression '{term.field[1]}' depends on t; "
                           "a ROM needs a pressure field of x, y, z times a time 'table'")


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
        if getattr(spec, "array", None) is not None:
            if spec.name not in self._files:
                self._files[spec.name] = _select_nodes(
                    spec.array, mesh=self.mesh,
                    source=f"the temperature array of time {spec.time:g}")
            return self._files[spec.name]
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


def _read_nodal_file(path, name, mesh, what="temperature"):
    """Values ``(n_local_nodes,)`` of a nodal scalar field stored in a file."""
    if not os.path.isfile(path):
        raise RomError(f"{what} file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            arr = np.load(path)
        elif ext in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if name not in f:
                    raise RomError(f"{what} file {path} has no dataset '{name}'")
                arr = f[name][...]
        else:
            arr = None
            if ext in (".xdmf", ".xmf"):  # a time series of one step (run.py thermal's)
                from rom.io.series import read_xdmf_field

                arr = read_xdmf_field(path, name)
            if arr is None:
                import meshio

                m = meshio.read(path)
                if name not in m.point_data:
                    raise RomError(f"{what} file {path} has no point data '{name}' "
                                   f"(it has: {', '.join(m.point_data) or 'none'})")
                arr = m.point_data[name]
    except RomError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise RomError(f"cannot read {what} file {path}: {exc}") from None
    arr = np.asarray(arr, dtype=float).reshape(len(arr), -1)[:, 0] if np.ndim(arr) else arr
    if np.ndim(arr) != 1:
        raise RomError(f"{what} file {path}: expected one value per node")
    return _select_nodes(arr, mesh, f"{what} file {path}")


def _select_nodes(arr, mesh, source):
    """The values of ``mesh``'s local nodes in ``arr``, which has one value per mesh
    node (global numbering) or per point of the mesh file."""
    if len(arr) == mesh.n_nodes_global:
        return arr[mesh.node_ids]
    if len(arr) == mesh.n_file_points:
        return arr[mesh.node_file_ids]
    raise RomError(f"{source} has {len(arr)} values, the mesh has "
                   f"{mesh.n_nodes_global} nodes ({mesh.n_file_points} points in its file)")


class Loading:
    """All loads of a case on one rank.

    Attributes
    ----------
    temperature : TemperatureLoading
    force_terms : list of (LoadTerm, local unit force array (n_local_dofs,))
        ``F_ext(t) = sum term.factor(t) * F``, element contributions summed on this
        rank (ghost contributions are added to their owners at assembly).
    supports : list of (SupportSpec, face connectivity (f, a) in local nodes, unit
        normal and tangential face matrices (f, 3a, 3a)), one per face type of the set
        The elastic supports: their stiffness ``K_s = sum_f normal Kn_f +
        tangential Kt_f`` is linear, added to the internal forces (``K_s u``) and the
        tangent (:meth:`support_forces`, :meth:`support_matrices`).
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
        self._pressure_faces = {}  # term name -> [(face basis, local dofs)] of t-fields
        self._face_values = {}  # term name -> per-face values (file order)
        dm = model.dofmap
        sizes = []  # faces of positive area of each pressure's set, non-zero forces
        terms = load_terms(case)
        pressures = {}
        # per-face values: the set's faces in the file's order, from the global mesh of
        # rank 0 (the other ranks may hold no global mesh)
        per_face = [t for t in terms if _per_face(t)]
        file_keys = {}
        if per_face:
            file_keys = agree(mesh.comm, lambda: {t.name: file_face_keys(mesh.data, t.set)
                                                  for t in per_face}
                              if mesh.comm.rank == 0 else None)
            file_keys = mesh.comm.bcast(file_keys, root=0)

        def pressure_forces():  # rank-local: a field's error reaches every rank (agree)
            for term in terms:
                if term.axis is not None:
                    continue
                F = np.zeros(dm.n_local)
                n_faces = 0
                if term.name in file_keys:  # the values (one face type: file_face_keys)
                    self._face_values[term.name] = _read_face_values(
                        term.field[1], term.field[2], len(file_keys[term.name]), term.set)
                for ft, (_, _, conn) in mesh.face_groups(term.set).items():
                    if not len(conn):
                        continue
                    face_index = None
                    if term.name in file_keys:  # each local face's rank in the file
                        face_index = self._file_face_index(term, conn, file_keys[term.name])
                    basis = FaceBasis(get_element(ft), mesh.points[conn])
                    n_faces += int(np.sum(basis.area() > 0))
                    dofs = (3 * conn[:, :, None] + np.arange(3)).ravel()
                    if term.time_dependent:  # evaluated at each step's time
                        self._pressure_faces.setdefault(term.name, []).append((basis, dofs))
                    else:
                        p = self._pressure_values(term, basis, conn, 0.0, face_index)
                        F += np.bincount(dofs, weights=basis.pressure_forces(p).ravel(),
                                         minlength=dm.n_local)
                pressures[term.name] = (F, n_faces)

        agree(mesh.comm, pressure_forces)
        for term in terms:
            if term.axis is None:  # a pressure on a face set: unit, or a field
                F, n_faces = pressures[term.name]
                sizes.append(n_faces)
            else:  # a centrifugal body force of unit rho omega^2
                point, axis = (np.asarray(a) for a in term.axis)

                def body(x, point=point, axis=axis):
                    r = x - point
                    return r - np.einsum("...k,k->...", r, axis)[..., None] * axis

                F = model.body_force_vector(body)
                sizes.append(int(np.sum(np.abs(F) > 0)))
            self.force_terms.append((term, F))
        self.supports = []
        for sp in case.supports:
            n_faces = 0  # one entry per face type of the mesh (the same on every rank)
            for ft, (_, _, conn) in mesh.face_groups(sp.set).items():
                Kn, Kt = support_face_matrices(get_element(ft), mesh.points[conn])
                self.supports.append((sp, conn, Kn, Kt))
                n_faces += len(conn)
            sizes.append(n_faces)
        counts = [len(mesh.node_set(d.set, owned_only=True)) for d in case.dirichlet] + sizes
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
        for i, sp in enumerate(case.supports):
            if counts[len(case.dirichlet) + len(self.force_terms) + i] == 0:
                raise RomError(f"{src}: [[support]] #{i + 1}: set '{sp.set}' selects no "
                               f"face of {os.path.basename(mesh.source)}")

    def support_matrices(self):
        """``[(face connectivity (f, a), element matrices (f, 3a, 3a))]`` of the
        elastic supports (for :meth:`rom.assembly.MatrixAssembler.assemble`)."""
        return [(conn, sp.normal * Kn + sp.tangential * Kt)
                for sp, conn, Kn, Kt in self.supports if len(conn)]

    def support_forces(self, u):
        """Local array ``(n_local_dofs,)`` of the supports' forces ``K_s u`` on this
        rank's faces (not yet summed over ranks)."""
        out = np.zeros(len(u))
        for conn, Ke in self.support_matrices():
            dofs = (3 * conn[:, :, None] + np.arange(3)).reshape(len(conn), 3 * conn.shape[1])
            out += np.bincount(dofs.ravel(), weights=np.matmul(Ke, u[dofs][..., None]).ravel(),
                               minlength=len(u))
        return out

    def check_pressures(self, t):
        """The pressure fields of t at time ``t`` on this rank's faces: raises
        :class:`rom.RomError` for a value that is not finite (not collective: for
        :func:`rom.hf.check_loading`)."""
        for term, _ in self.force_terms:
            for basis, _ in self._pressure_faces.get(term.name, ()):
                self._pressure_values(term, basis, None, t)

    def _file_face_index(self, term, conn, keys):
        """Index ``(n_faces,)`` of the local faces ``conn`` (local node numbering) in
        the list ``keys`` of the set's faces in the mesh file's order
        (:func:`file_face_keys`)."""
        n_corners = keys.shape[1]
        local = np.sort(self.mesh.node_ids[conn[:, :n_corners]], axis=1)
        index = _rows_in(local, keys)
        if np.any(index < 0):  # face_set returns the group's faces: cannot happen
            raise RomError(f"face set '{term.set}': {np.sum(index < 0)} face(s) not found "
                           "among its surface elements")
        return index

    def _pressure_values(self, term, basis, conn, t, face_index=None):
        """The pressure ``(n_faces, n_qp)`` of ``term`` at the face quadrature points
        (``face_index``: each face's rank in the file's list, for per-face values)."""
        shape = basis.nA.shape[:2]
        if term.field is None:
            return np.ones(shape)
        if term.field[0] == "face file":  # constant on each face
            p = np.repeat(self._face_values[term.name][face_index][:, None], shape[1], axis=1)
        elif term.field[0] == "expression":
            p = evaluate_expression(term.field[1], basis.x.reshape(-1, 3), extra={"t": t},
                                    what=f"pressure expression on '{term.set}'")
            p = p.astype(float).reshape(shape)
        else:
            nodal = _read_nodal_file(term.field[1], term.field[2], self.mesh, "pressure")
            p = np.einsum("qa,fa->fq", basis.N, nodal[conn])
        if not np.all(np.isfinite(p)):
            raise RomError(f"pressure on '{term.set}' has NaN or inf values at t = {t:g}")
        return p

    def external_forces(self, t):
        """Local external force array ``(n_local_dofs,)`` at time ``t`` (not yet summed
        over ranks)."""
        F = np.zeros(self.mesh.n_local_nodes * 3)
        for term, Fk in self.force_terms:
            if term.name in self._pressure_faces:  # a field of t: evaluated now
                Fk = sum(np.bincount(dofs, weights=basis.pressure_forces(
                    self._pressure_values(term, basis, None, t)).ravel(), minlength=len(F))
                    for basis, dofs in self._pressure_faces[term.name])
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
