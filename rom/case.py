"""Case files (TOML) loaded into frozen, validated dataclasses.

A case names a mesh, sets, a material, loads, time steps, solver options and an
output directory. Paths inside a case file are relative to the case file. Every
error names the file and the offending key. Format (all sections but ``[mesh]``
and ``[material]`` optional)::

    name = "cube"                       # default: file stem
    [mesh]
    file = "../meshes/cube.msh"         # any format meshio reads
    partitioner = "ptscotch"            # or "rcb"
    [sets.fixed]                        # sets by geometric predicate (see rom.mesh)
    kind = "nodes"                      # nodes | faces | cells
    where = "x == 0"
    tol = 1e-8
    [material]
    law = "elastic"
    E = [[20.0, 200000.0], [1000.0, 150000.0]]   # number or [T, value] table
    nu = 0.3
    alpha = 2e-5
    T_ref = 20.0
    rho = 7.8e-9                        # density (for centrifugal loads)
    # law = "j2": R0 = 250.0, H = 1e4 (linear hardening), Hk = 0.0, or a curve:
    # hardening = [[0.0, 250.0], [0.01, 300.0], [0.05, 330.0]]   # [p, R] rows, or
    #                                   # [p, R, T]: a curve per temperature
    [[dirichlet]]
    set = "fixed"
    components = ["x", "y", "z"]        # or [0, 1, 2]
    value = 0.0                         # or expression = "0.01 * x * t"
    table = [[0.0, 0.0], [1.0, 1.0]]    # optional time factor (any load)
    [[pressure]]
    set = "xmax"                        # a face set
    value = 100.0                       # positive pushes on the face; or a field:
    # expression = "100 * (1 + y)"      # of x, y, z (and t: the HF solver only), or
    # file = "p.npy"                    # nodal values (name = ... for HDF5, meshio)
    # per = "face"                      # or one value per surface element of a face
                                        # set of the mesh file, in its order (.npy, HDF5)
    [[support]]                         # elastic support of a face set: traction
    set = "flanks"                      # -normal (u.n) n - tangential (u - (u.n) n)
    normal = 2e4                        # N/mm^3 (stiffness per unit area)
    tangential = 0.0
    [centrifugal]
    omega = 1000.0                      # rad/s (the table scales omega)
    axis_point = [0.0, 0.0, 0.0]
    axis_direction = [0.0, 0.0, 1.0]
    [temperature]                       # one field, or a time sequence:
    expression = "20 + 500 * x"         # value = ..., expression = ..., file = "T.npy"
    # [[temperature.fields]]  time = 0.0, value = 20.0 / expression / file
    [loadings.hot]                      # named loadings: each a temperature like
    expression = "20 + 800 * x * t"     # [temperature] (value, expression, file, fields,
                                        # or thermal = {...}: see [thermal])
    [loadings.spot]                     # a field of the [thermal] problem, with these
    fields = [{time = 0.0, value = 20.0},  # values of its parameters
              {time = 1.0, thermal = {hs_z = 0.5, hs_peak = 200.0}}]
    [thermal]                           # steady conduction giving temperature fields
    conductivity = [[20.0, 0.011], [1000.0, 0.025]]  # number or [T, k] table
    T_init = 600.0                      # start of the Newton iterations
    rtol = 1e-10
    dir = "results/cube/thermal"        # where the fields go (default: <output>/thermal)
    [thermal.parameters]                # names the loadings set, with their defaults
    hs_z = 0.5
    hs_peak = 0.0
    [thermal.define]                    # named expressions, evaluated in order
    spot = "hs_peak * exp(-((z - hs_z) / 0.2)**2)"
    [[thermal.convection]]              # -k dT/dn = h (T - T_ext) on a face set; h
    set = "face_x1"                     # and T_ext: numbers or expressions of x, y, z,
    h = 2e-3                            # the parameters and the definitions
    T_ext = "1000 + spot"
    [[thermal.fixed]]                   # T = value on a node set
    set = "x0"
    value = 20.0
    # source = "..."                    # optional volumetric heat source
    [steps]
    times = [1.0]                       # or: end = 1.0, count = 10
                                        # or: cycles = 3, period = 2.0, count = 10 (per
                                        #     period; load tables describe one period)
    max_cuts = 8                        # step halvings allowed when Newton fails
    [solver]
    rtol = 1e-8
    max_iterations = 25
    linear_solver = "gamg"              # or "mumps"
    [solver.petsc]                      # any PETSc option, overrides the defaults
    ksp_rtol = 1e-10
    [rom]                               # offline settings
    product = "mass"                    # POD product: mass | stiffness | euclidean
    eps_u = 1e-4                        # POD truncation of the displacement
    eps_dual = 1e-4                     # POD truncation of the Gappy bases
    ecm_tol = 1e-6                      # empirical cubature tolerance
    hyper = "ecm"                       # reduced quadrature: ecm | nnls
    block_mb = 2048                     # offline: memory per rank for a block of
                                        # snapshots (more snapshots are streamed)
    gappy = ["p", "sigma"]              # dual quantities reconstructed by Gappy-POD
                                        # (the adaptive ROM needs sigma and every
                                        # internal variable: p, eps_vp, X)
    training = ["hot"]                  # training loadings (pipeline); an entry
                                        # {loading = "hot", results = "ccx/hot.frd"}
                                        # takes another solver's run of that loading
                                        # (imported and replayed, DESIGN section 8)
    # [rom.results]                     # other solvers' runs of named loadings, used
    # hot = "ccx/hot.frd"               # wherever the pipeline needs an HF run of them
    # cold = {file = "cold.pvd", format = "vtu"}   # (training, test reference)
    test = "hot"                        # test loading (pipeline)
    adaptive = ["hot"]                  # loadings also run with the adaptive ROM
    tol = 1e-2                          # its indicator tolerance
    clusters = 2                        # local ROMs: a dictionary of 2 (or "auto": the
                                        # a priori criterion chooses, up to k_max = 4)
    cluster_by = "temperature"          # clustering the training loadings by their
                                        # temperature fields, or "trajectory"
    # generalization_tol = 0.5          # "auto": k > 1 only if the clusters' bases
                                        # predict a left-out training run at most 1.5x
                                        # worse than the global basis (rom.cluster)
    indicator = ["sigma", "p", "eps_vp"]  # fields of the indicator (default: these,
                                        # those the law has; see rom.indicator)
    [output]
    dir = "results/cube"                # default: results/<name>
"""

import numbers
import os
import tomllib
from dataclasses import dataclass, field, replace

import numpy as np

from rom import RomError
from rom.mesh import SetDefinition

__all__ = ["Case", "load_case", "parse_case"]

_COMPONENTS = {"x": 0, "y": 1, "z": 2, 0: 0, 1: 1, 2: 2}


@dataclass(frozen=True)
class DirichletSpec:
    """Prescribed displacement components on a node set: a constant ``value`` or an
    ``expression`` of x, y, z, t (same for every listed component), times ``table``."""

    set: str
    components: tuple
    value: float = 0.0
    table: tuple = None
    expression: str = None


@dataclass(frozen=True)
class PressureSpec:
    """A pressure on a face set (positive pushes on the face): exactly one of a
    uniform ``value``, an ``expression`` of x, y, z (and t), or values in a ``file``,
    times ``table(t)``. ``per = "node"`` (the default): nodal values (``.npy``, HDF5
    dataset ``name`` or meshio point data ``name``, one value per mesh node or per
    point of the mesh file), interpolated over each face; ``per = "face"``: one value
    per surface element of the set, in the order the mesh file lists them (``.npy``
    or HDF5 dataset ``name``), constant on each face; the set must then be a face
    set of the mesh file (a geometric set has no file order)."""

    set: str
    value: float = None
    table: tuple = None
    expression: str = None
    file: str = None
    name: str = None
    per: str = "node"


@dataclass(frozen=True)
class SupportSpec:
    """An elastic support of a face set (a foundation: the disk's slot holding a blade
    root): traction ``-normal (u.n) n - tangential (u - (u.n) n)``, stiffnesses per
    unit area (N/mm^3 in mm, MPa)."""

    set: str
    normal: float
    tangential: float = 0.0


@dataclass(frozen=True)
class CentrifugalSpec:
    omega: float
    axis_point: tuple
    axis_direction: tuple
    table: tuple = None


@dataclass(frozen=True)
class FieldSpec:
    """A nodal scalar field: exactly one of ``value``, ``expression`` (of x, y, z, t),
    ``file`` (``.npy``; a meshio-readable file with point data ``name``; or HDF5
    ``.h5``/``.hdf5`` with dataset ``name``), or ``thermal``: the steady temperature of
    the case's ``[thermal]`` problem with these parameters (``(name, value)`` pairs,
    the section's defaults included), read from the file ``file`` (dataset ``T``) that
    :func:`rom.thermal.compute_thermal_fields` writes; or (from Python,
    :meth:`Case.with_fields`) ``array``: the nodal values in memory, one per mesh node
    (global numbering) or per point of the mesh file, ``name`` then holding a digest
    of the values (so that two fields compare and print by their values)."""

    time: float = 0.0
    value: float = None
    expression: str = None
    file: str = None
    name: str = None
    thermal: tuple = None
    array: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Convection:
    """Robin condition ``-k dT/dn = h (T - T_ext)`` on the face set ``set``; ``h`` and
    ``T_ext`` are numbers or expressions of x, y, z (and of the thermal problem's
    parameters and definitions)."""

    set: str
    h: object
    T_ext: object


@dataclass(frozen=True)
class FixedTemperature:
    """Dirichlet condition ``T = value`` (a number or an expression) on the nodes of
    set ``set``."""

    set: str
    value: object


@dataclass(frozen=True)
class ThermalSpec:
    """The steady heat conduction problem of ``[thermal]`` (:mod:`rom.thermal`):
    conductivity (number or ``[T, k]`` table), convection and fixed-temperature
    conditions, an optional volumetric ``source``; ``define``: named expressions of x,
    y, z, evaluated in order (each may use the previous ones and the parameters);
    ``parameters``: default values of the names the loadings set; ``dir``: where the
    computed fields go."""

    conductivity: object
    convection: tuple
    fixed: tuple = ()
    source: object = None
    define: tuple = ()
    parameters: tuple = ()
    T_init: float = None
    rtol: float = 1e-10
    max_iterations: int = 30
    dir: str = None


@dataclass(frozen=True)
class SolverSpec:
    rtol: float = 1e-8
    max_iterations: int = 25
    linear_solver: str = "gamg"
    petsc: tuple = ()  # (key, value) pairs

    def petsc_options(self):
        opts = dict(self.petsc)
        opts["linear_solver"] = self.linear_solver
        return opts


@dataclass(frozen=True)
class GreedySpec:
    """A greedy training design (``[rom.greedy]``, ``run.py greedy``): candidate
    loadings made from the named loading ``template`` with its ``[thermal]``
    parameters ``parameters`` (``(name, low, high)``) sampled by Latin hypercube
    (``samples`` of them, ``seed``); ``add`` HF runs added at most; stop when every
    candidate's indicator is below ``tol`` (None: ``[rom] tol``)."""

    template: str
    parameters: tuple
    samples: int = 100
    seed: int = 1
    add: int = 10
    tol: float = None


@dataclass(frozen=True)
class RomSpec:
    """Offline settings (``[rom]``): POD product and tolerances, ECM tolerance, the
    dual quantities reconstructed by Gappy-POD."""

    product: str = "mass"
    eps_u: float = 1e-4
    eps_dual: float = 1e-4
    ecm_tol: float = 1e-6
    gappy: tuple = ("p", "sigma")
    training: tuple = ()  # names of the training loadings
    test: str = None  # name of the test loading
    adaptive: tuple = ()  # loadings the pipeline also runs with the adaptive ROM
    tol: float = 1e-2  # tolerance of the adaptive ROM's error indicator
    indicator: tuple = None  # its fields (None: rom.indicator.DEFAULT_FIELDS)
    results: tuple = ()  # (loading, result file, format or None): other solvers' runs
    clusters: object = None  # local ROMs: their number, "auto", or None (one ROM)
    cluster_by: str = "temperature"  # what is clustered: "temperature" | "trajectory"
    k_max: int = 4  # the largest number of clusters "auto" tries
    generalization_tol: float = 0.5  # "auto": the accuracy local bases may lose (cluster)
    hyper: str = "ecm"  # reduced quadrature: "ecm" (NN-OMP) or "nnls" (rom.hyper)
    block_mb: float = 2048.0  # offline: MB per rank of a block of snapshots
    greedy: GreedySpec = None  # run.py greedy: the candidates of a greedy design


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    text: str
    mesh_file: str
    partitioner: str
    sets: tuple
    law: str
    material: tuple  # (key, value) pairs, values as given (numbers or tables)
    density: float
    dirichlet: tuple
    pressure: tuple
    centrifugal: CentrifugalSpec
    temperature: tuple  # FieldSpec sequence
    times: tuple
    solver: SolverSpec
    output_dir: str
    rom: RomSpec = RomSpec()
    loadings: dict = field(default_factory=dict, compare=False)  # name -> FieldSpec tuple
    loading: str = None  # the named loading in use (None: [temperature])
    period: float = None  # loads repeat with this period (cyclic steps)
    max_cuts: int = 8  # step halvings allowed on divergence
    thermal: ThermalSpec = None  # the thermal problem of the loadings' fields
    supports: tuple = ()  # SupportSpec: elastic supports of face sets

    def thermal_fields(self, names=None):
        """The distinct :class:`FieldSpec` computed by the thermal problem, in the
        loadings ``names`` (default: ``[temperature]`` and every named loading)."""
        seqs = ([self.temperature] + list(self.loadings.values()) if names is None
                else [self.with_loading(n).temperature for n in names])
        out = {}
        for seq in seqs:
            for f in seq:
                if f.thermal is not None:
                    out.setdefault(f.file, f)
        return list(out.values())

    def material_params(self):
        return dict(self.material)

    def with_fields(self, fields, name="custom"):
        """This case with the temperature loading ``fields``, named ``name``: a list of
        dicts as the ``fields`` of a ``[loadings.<name>]`` table, each with its ``time``
        and one of ``value``, ``expression``, ``file`` (with ``name`` unless ``.npy``;
        a relative path is from the current directory), ``thermal`` (parameters of the
        case's ``[thermal]`` problem: the field is that problem's solution, computed by
        :func:`rom.thermal.compute_thermal_fields`), or ``array`` (nodal values, one
        per mesh node in the mesh's global numbering or per point of the mesh file).
        Checked as a case file's loading is; the case's other loadings stay."""
        src = f"loading '{name}'"
        if not isinstance(fields, (list, tuple)):
            raise RomError(f"{src}: fields must be a list of dicts, got {type(fields).__name__}")
        plain, arrays = [], {}
        for i, f in enumerate(fields):
            if not isinstance(f, dict):
                raise RomError(f"{src}: field #{i + 1} must be a dict, got {f!r}")
            f = dict(f)
            if "array" in f:
                others = sorted(set(f) & {"value", "expression", "file", "name", "thermal"})
                if others:
                    raise RomError(f"{src}: field #{i + 1}: give 'array' alone, not with "
                                   + ", ".join(repr(k) for k in others))
                # a copy, read-only: the digest names these values for good
                a = np.array(f.pop("array"), dtype=float, copy=True)
                if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
                    raise RomError(f"{src}: field #{i + 1}: 'array' must be a non-empty 1-D "
                                   "array of finite numbers (one value per node)")
                a.flags.writeable = False
                arrays[i] = a
                f["value"] = 0.0  # a placeholder through the checks, replaced below
            plain.append(f)
        seq = _fields_of(plain, f"[loadings.{name}]", src, os.path.abspath)
        seq = tuple(replace(f, value=None, array=arrays[i],
                            name="array " + _digest_of(arrays[i])) if i in arrays else f
                    for i, f in enumerate(seq))
        if any(f.thermal is not None for f in seq):
            if self.thermal is None:
                raise RomError(f"{src}: a field gives 'thermal' parameters, but the case has "
                               "no [thermal] section")
            seq = _thermal_files(seq, self.thermal, self.mesh_file, src, self.sets)
        if name in self.loadings and self.loadings[name] != seq:
            raise RomError(f"{src}: the case already has another loading of that name")
        return replace(self, temperature=seq, loading=name,
                       loadings={**self.loadings, name: seq})

    def with_loading(self, name):
        """This case with the temperature of its named loading ``name`` (None: itself)."""
        if name is None:
            return self
        if name not in self.loadings:
            raise RomError(f"unknown loading '{name}' in {os.path.basename(self.path)} (it "
                           f"defines: {', '.join(self.loadings) or 'none'})")
        from dataclasses import replace

        return replace(self, temperature=self.loadings[name], loading=name)

    def load_time(self, t):
        """Time at which the load tables are read: ``t`` itself, or its phase in
        ``(0, period]`` for cyclic steps (the tables describe one period)."""
        if self.period is None or t <= 0:
            return t
        return t - self.period * (np.ceil(t / self.period) - 1)


def _result_file(section, key, resolve):
    """``(path, format)`` of another solver's result file named by ``key`` of
    ``section`` (and its optional ``format``)."""
    from rom.io import RESULT_FORMATS

    path = resolve(section.get(key, "str", required=True))
    fmt = section.get("format", "str")
    if fmt is not None and fmt not in RESULT_FORMATS:
        section._err(f"unknown result format '{fmt}' (known: {', '.join(RESULT_FORMATS)})")
    return path, fmt


class _Section:
    """Key access that records what was read, to report unknown keys."""

    def __init__(self, data, where, src):
        if not isinstance(data, dict):
            raise RomError(f"{src}: {where} must be a table, got {type(data).__name__}")
        self.data, self.where, self.src = data, where, src
        self.used = set()

    def _err(self, msg):
        raise RomError(f"{self.src}: {msg} in {self.where}")

    def get(self, key, kind=None, default=None, required=False):
        self.used.add(key)
        if key not in self.data:
            if required:
                self._err(f"missing key '{key}'")
            return default
        v = self.data[key]
        if kind == "number":  # numpy scalars too (cases built from Python)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                self._err(f"'{key}' must be a number, got {v!r}")
            if not np.isfinite(v):
                self._err(f"'{key}' must be finite, got {v!r}")
            return float(v)
        if kind == "int":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                self._err(f"'{key}' must be a positive integer, got {v!r}")
            return v
        if kind == "str":
            if not isinstance(v, str):
                self._err(f"'{key}' must be a string, got {v!r}")
            return v
        if kind == "vector3":
            if (not isinstance(v, list) or len(v) != 3
                    or not all(isinstance(a, (int, float)) for a in v)):
                self._err(f"'{key}' must be a list of 3 numbers, got {v!r}")
            return tuple(float(a) for a in v)
        if kind == "table":
            try:
                arr = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                arr = None
            if arr is None or arr.ndim != 2 or arr.shape[1] != 2 or not len(arr):
                self._err(f"'{key}' must be a list of [time, factor] rows, got {v!r}")
            if np.any(np.diff(arr[:, 0]) <= 0) or not np.all(np.isfinite(arr)):
                self._err(f"'{key}': times must increase and values be finite")
            return tuple(map(tuple, arr.tolist()))
        return v

    def done(self):
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            self._err(f"unknown key(s) {', '.join(repr(k) for k in unknown)}")


def load_case(path):
    """Read and validate a case file; raises :class:`rom.RomError` naming the problem."""
    if not os.path.isfile(path):
        raise RomError(f"case file not found: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    return parse_case(raw.decode("utf-8", errors="replace"), path)


def parse_case(text, path="<case>"):
    """Validate case-file ``text``; relative paths are resolved from ``path``'s folder."""
    src = os.path.basename(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RomError(f"{src}: malformed TOML: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))

    def resolve(p):
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))

    top = _Section(data, "the top level", src)
    name = top.get("name", "str", default=os.path.splitext(src)[0])

    mesh = _Section(top.get("mesh", required=True), "[mesh]", src)
    mesh_file = resolve(mesh.get("file", "str", required=True))
    partitioner = mesh.get("partitioner", "str", default="ptscotch")
    if partitioner not in ("ptscotch", "rcb"):
        mesh._err(f"partitioner must be 'ptscotch' or 'rcb', not '{partitioner}'")
    mesh.done()

    sets = []
    for sname, sdata in (top.get("sets", default={}) or {}).items():
        s = _Section(sdata, f"[sets.{sname}]", src)
        kind = s.get("kind", "str", required=True)
        if kind not in ("nodes", "faces", "cells"):
            s._err(f"kind must be nodes, faces or cells, not '{kind}'")
        sets.append(SetDefinition(sname, kind, s.get("where", "str", required=True),
                                  s.get("tol", "number", default=1e-8)))
        s.done()

    mat = _Section(top.get("material", required=True), "[material]", src)
    law = mat.get("law", "str", default="elastic")
    density = mat.get("rho", "number", default=0.0)
    params = {k: v for k, v in mat.data.items() if k not in ("law", "rho")}
    mat.used.update(params)
    mat.done()
    from rom.materials import make_law

    try:
        make_law(law, params)  # validates parameter names, tables and ranges now
    except RomError as exc:
        mat._err(str(exc))

    def table_of(sec):
        return sec.get("table", "table")

    dirichlet = []
    for i, d in enumerate(top.get("dirichlet", default=[]) or []):
        s = _Section(d, f"[[dirichlet]] #{i + 1}", src)
        comps = s.get("components", default=["x", "y", "z"])
        if not isinstance(comps, list) or not comps or any(
                c not in _COMPONENTS or isinstance(c, bool) for c in comps):
            s._err(f"'components' must list x, y, z (or 0, 1, 2), got {comps!r}")
        expression = s.get("expression", "str")
        if expression is not None and "value" in d:
            s._err("give 'value' or 'expression', not both")
        dirichlet.append(DirichletSpec(s.get("set", "str", required=True),
                                       tuple(sorted({_COMPONENTS[c] for c in comps})),
                                       s.get("value", "number", default=0.0), table_of(s),
                                       expression))
        s.done()

    pressure = []
    for i, d in enumerate(top.get("pressure", default=[]) or []):
        s = _Section(d, f"[[pressure]] #{i + 1}", src)
        spec = PressureSpec(s.get("set", "str", required=True), s.get("value", "number"),
                            table_of(s), s.get("expression", "str"), s.get("file", "str"),
                            s.get("name", "str"))
        if sum(v is not None for v in (spec.value, spec.expression, spec.file)) != 1:
            s._err("give exactly one of 'value', 'expression' (of x, y, z, t), 'file' "
                   "(nodal values)")
        if spec.file is not None:
            if not spec.file.endswith(".npy") and spec.name is None:
                s._err(f"'name' (point-data array or HDF5 dataset) is needed to read "
                       f"'{spec.file}'")
            spec = replace(spec, file=resolve(spec.file))
        per = s.get("per", "str")
        if per is not None:
            if per not in ("node", "face"):
                s._err(f"'per' must be 'node' (nodal values) or 'face' (one value per "
                       f"surface element of the set), not '{per}'")
            if spec.file is None:
                s._err("'per' tells how the values of a 'file' are given; give a 'file'")
            spec = replace(spec, per=per)
        if spec.per == "face":
            if not spec.file.endswith((".npy", ".h5", ".hdf5")):
                s._err(f"per-face values are read from a .npy file or an HDF5 dataset "
                       f"(.h5, .hdf5), not '{os.path.basename(spec.file)}'")
            if spec.set in [d.name for d in sets]:
                s._err(f"per = 'face' needs a face set of the mesh file (an Abaqus "
                       f"*SURFACE, a gmsh physical surface, a Z-set faset), whose surface "
                       f"elements the values follow in order; '{spec.set}' is defined by "
                       f"a predicate in [sets.{spec.set}], and a geometric set has no "
                       "file order")
        pressure.append(spec)
        s.done()

    supports = []
    for i, d in enumerate(top.get("support", default=[]) or []):
        s = _Section(d, f"[[support]] #{i + 1}", src)
        spec = SupportSpec(s.get("set", "str", required=True),
                           s.get("normal", "number", required=True),
                           s.get("tangential", "number", default=0.0))
        if spec.normal < 0 or spec.tangential < 0 or spec.normal + spec.tangential == 0:
            s._err("'normal' and 'tangential' must be >= 0, not both 0")
        if spec.set in [u.set for u in supports]:
            s._err(f"set '{spec.set}' has two supports")
        supports.append(spec)
        s.done()

    centrifugal = None
    if "centrifugal" in data:
        s = _Section(top.get("centrifugal"), "[centrifugal]", src)
        direction = s.get("axis_direction", "vector3", default=(0.0, 0.0, 1.0))
        if np.linalg.norm(direction) == 0:
            s._err("'axis_direction' must be non-zero")
        centrifugal = CentrifugalSpec(s.get("omega", "number", required=True),
                                      s.get("axis_point", "vector3", default=(0.0, 0.0, 0.0)),
                                      direction, table_of(s))
        s.done()
        if density <= 0:
            raise RomError(f"{src}: a centrifugal load needs a positive 'rho' in [material]")

    thermal = None
    if "thermal" in data:
        thermal = _thermal(_Section(top.get("thermal"), "[thermal]", src), resolve)

    def temperature_of(section, where):
        sec = _Section(section, where, src)
        fields = sec.get("fields")
        if fields is None:
            out = (_field(sec, src, resolve, allow_time=False),)
        else:
            out = _fields_of(fields, where, src, resolve)
        sec.done()
        return out

    temperature = ()
    if "temperature" in data:
        temperature = temperature_of(top.get("temperature"), "[temperature]")
    loadings = {}
    for lname, ldata in (top.get("loadings", default={}) or {}).items():
        loadings[lname] = temperature_of(ldata, f"[loadings.{lname}]")

    st = _Section(top.get("steps", default={"times": [1.0]}), "[steps]", src)
    period = None
    if "cycles" in st.data:
        cycles = st.get("cycles", "int")
        period = st.get("period", "number", required=True)
        count = st.get("count", "int", required=True)
        if period <= 0:
            st._err("'period' must be positive")
        times = tuple(np.linspace(0.0, cycles * period, cycles * count + 1)[1:].tolist())
    elif "times" in st.data:
        times = st.get("times")
        if (not isinstance(times, list) or not times
                or not all(isinstance(t, (int, float)) for t in times)):
            st._err("'times' must be a non-empty list of numbers")
        times = tuple(float(t) for t in times)
    else:
        end = st.get("end", "number", required=True)
        count = st.get("count", "int", required=True)
        times = tuple(np.linspace(0.0, end, count + 1)[1:].tolist())
    max_cuts = st.get("max_cuts", "int", default=8)
    if not np.all(np.isfinite(times)):
        st._err(f"step times must be finite, got {list(times)}")
    if times[0] <= 0 or np.any(np.diff(times) <= 0):
        st._err("step times must be positive and increasing (time starts at 0)")
    st.done()

    so = _Section(top.get("solver", default={}), "[solver]", src)
    petsc = so.get("petsc", default={})
    if not isinstance(petsc, dict):
        so._err("'petsc' must be a table of PETSc options")
    linear = so.get("linear_solver", "str", default="gamg")
    if linear not in ("gamg", "mumps"):
        so._err(f"linear_solver must be 'gamg' or 'mumps', not '{linear}'")
    solver = SolverSpec(so.get("rtol", "number", default=1e-8),
                        so.get("max_iterations", "int", default=25), linear,
                        tuple(sorted(petsc.items())))
    if not 0 < solver.rtol < 1:
        so._err(f"'rtol' must be in (0, 1), not {solver.rtol}")
    so.done()

    ro = _Section(top.get("rom", default={}), "[rom]", src)
    product = ro.get("product", "str", default="mass")
    if product not in ("mass", "stiffness", "euclidean"):
        ro._err(f"product must be 'mass', 'stiffness' or 'euclidean', not '{product}'")
    gappy = ro.get("gappy", default=["p", "sigma"])
    if not isinstance(gappy, list) or not all(g in ("p", "sigma", "X", "eps_vp")
                                              for g in gappy):
        ro._err(f"gappy must list fields among p, sigma, X, eps_vp, got {gappy!r}")
    training, results = [], {}
    entries = ro.get("training", default=[])
    if not isinstance(entries, list):
        ro._err(f"'training' must be a list of loading names or tables {{loading = ..., "
                f"results = ...}}, got {entries!r}")
    for entry in entries:
        if isinstance(entry, dict):  # {loading = ..., results = ..., format = ...}
            e = _Section(entry, "a [rom] training entry", src)
            lname = e.get("loading", "str", required=True)
            if lname in results:
                ro._err(f"results of loading '{lname}' given twice in 'training'")
            results[lname] = _result_file(e, "results", resolve)
            e.done()
            entry = lname
        if not isinstance(entry, str):
            ro._err(f"'training' must list loading names or tables {{loading = ..., "
                    f"results = ...}}, got {entry!r}")
        training.append(entry)
    named = ro.get("results", default={})
    if not isinstance(named, dict):
        ro._err(f"'results' must be a table [rom.results] of loading = \"file\" (or "
                f"{{file = ..., format = ...}}), got {named!r}")
    for lname, spec in named.items():
        if lname in results:
            ro._err(f"results of loading '{lname}' given twice")
        if isinstance(spec, str):
            spec = {"file": spec}
        e = _Section(spec, f"[rom.results] {lname}", src)
        results[lname] = _result_file(e, "file", resolve)
        e.done()
    test = ro.get("test", "str")
    adaptive = ro.get("adaptive", default=[])
    if not isinstance(adaptive, list) or not all(isinstance(t, str) for t in adaptive):
        ro._err(f"'adaptive' must be a list of loading names, got {adaptive!r}")
    for lname in training + ([test] if test else []) + adaptive + list(results):
        if lname not in loadings:
            ro._err(f"unknown loading '{lname}' (the case defines: "
                    f"{', '.join(loadings) or 'none'})")
    rom = RomSpec(product, ro.get("eps_u", "number", default=1e-4),
                  ro.get("eps_dual", "number", default=1e-4),
                  ro.get("ecm_tol", "number", default=1e-6), tuple(gappy), tuple(training),
                  test, tuple(adaptive), ro.get("tol", "number", default=1e-2))
    hyper = ro.get("hyper", "str", default="ecm")
    if hyper not in ("ecm", "nnls"):
        ro._err(f"hyper must be 'ecm' or 'nnls', not '{hyper}'")
    block_mb = ro.get("block_mb", "number", default=2048.0)
    if not block_mb > 0:
        ro._err(f"'block_mb' must be positive, not {block_mb}")
    clusters = ro.get("clusters", default=None)
    if clusters is not None and clusters != "auto" and (
            isinstance(clusters, bool) or not isinstance(clusters, int) or clusters < 1):
        ro._err(f"'clusters' must be a positive integer or \"auto\", not {clusters!r}")
    cluster_by = ro.get("cluster_by", "str", default="temperature")
    if cluster_by not in ("temperature", "trajectory"):
        ro._err(f"'cluster_by' must be 'temperature' or 'trajectory', not '{cluster_by}'")
    k_max = ro.get("k_max", "int", default=4)
    gen_tol = ro.get("generalization_tol", "number", default=0.5)
    if not gen_tol >= 0:
        ro._err(f"'generalization_tol' must be >= 0, not {gen_tol}")
    rom = replace(rom, clusters=clusters, cluster_by=cluster_by, k_max=k_max,
                  generalization_tol=float(gen_tol))
    rom = replace(rom, hyper=hyper, block_mb=float(block_mb),
                  results=tuple((k, *v) for k, v in results.items()))
    indicator = ro.get("indicator", default=None)
    if indicator is not None:
        if (not isinstance(indicator, list) or not indicator
                or not all(g in ("p", "sigma", "X", "eps_vp") for g in indicator)):
            ro._err(f"indicator must list fields among p, sigma, X, eps_vp, got "
                    f"{indicator!r}")
        missing = [g for g in indicator if g not in gappy]
        if missing:
            ro._err(f"indicator field(s) {', '.join(missing)} have no Gappy basis: add "
                    "them to gappy")
        rom = replace(rom, indicator=tuple(indicator))
    greedy = ro.get("greedy", default=None)
    if greedy is not None:
        rom = replace(rom, greedy=_greedy_spec(greedy, loadings, thermal, src))
    if rom.tol < 0:
        ro._err("'tol' must be >= 0")
    for key in ("eps_u", "eps_dual", "ecm_tol"):
        if not 0 < getattr(rom, key) < 1:
            ro._err(f"'{key}' must be in (0, 1)")
    ro.done()

    out = _Section(top.get("output", default={}), "[output]", src)
    output_dir = out.get("dir", "str", default=os.path.join("results", name))
    out.done()
    top.done()
    if thermal is not None or any(f.thermal is not None for seq in
                                  [temperature, *loadings.values()] for f in seq):
        if thermal is None:
            raise RomError(f"{src}: a temperature field gives 'thermal' parameters, but the "
                           "case has no [thermal] section")
        thermal = replace(thermal, dir=thermal.dir or os.path.join(output_dir, "thermal"))
        temperature = _thermal_files(temperature, thermal, mesh_file, src, sets)
        loadings = {k: _thermal_files(v, thermal, mesh_file, src, sets)
                    for k, v in loadings.items()}
    return Case(name=name, path=os.path.abspath(path), text=text, mesh_file=mesh_file,
                partitioner=partitioner, sets=tuple(sets), law=law,
                material=tuple(sorted(params.items(), key=lambda kv: kv[0])),
                density=density, dirichlet=tuple(dirichlet), pressure=tuple(pressure),
                centrifugal=centrifugal, temperature=temperature, times=times,
                solver=solver, output_dir=output_dir, rom=rom, loadings=loadings,
                period=period, max_cuts=max_cuts, thermal=thermal, supports=tuple(supports))


def _fields_of(fields, where, src, resolve):
    """The :class:`FieldSpec` sequence of a loading's ``fields`` list (``where``: the
    loading's table, for the messages)."""
    if not isinstance(fields, list) or not fields:
        raise RomError(f"{src}: 'fields' must be a non-empty list of tables in {where}")
    out = tuple(_field(_Section(f, f"[[{where[1:-1]}.fields]] #{i + 1}", src),
                       src, resolve, allow_time=True)
                for i, f in enumerate(fields))
    if np.any(np.diff([f.time for f in out]) <= 0):
        raise RomError(f"{src}: field times must increase in {where}")
    return out


def _greedy_spec(data, loadings, thermal, src):
    """The ``[rom.greedy]`` table: its template loading must have fields of the
    ``[thermal]`` problem, and the sampled parameters must be that problem's."""
    if not isinstance(data, dict):
        raise RomError(f"{src}: [rom.greedy] must be a table, got {data!r}")
    g = _Section(data, "[rom.greedy]", src)
    template = g.get("template", "str", required=True)
    if template not in loadings:
        g._err(f"unknown template loading '{template}' (the case defines: "
               f"{', '.join(loadings) or 'none'})")
    if not any(f.thermal is not None for f in loadings[template]):
        g._err(f"the template loading '{template}' has no field of the [thermal] problem "
               "(thermal = {...}): there is nothing to sample")
    params = g.get("parameters", required=True)
    if not isinstance(params, dict) or not params:
        g._err("'parameters' must be a table of name = [low, high]")
    declared = dict(thermal.parameters) if thermal is not None else {}
    ranges = []
    for name, bounds in params.items():
        if name not in declared:
            g._err(f"parameter '{name}' is not declared in [thermal.parameters] (it "
                   f"declares: {', '.join(declared) or 'none'})")
        if (not isinstance(bounds, list) or len(bounds) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                           for b in bounds) or not bounds[0] < bounds[1]
                or not np.isfinite(float(bounds[1]) - float(bounds[0]))):
            g._err(f"parameter '{name}' must be given as [low, high] with low < high, "
                   f"both finite, got {bounds!r}")
        ranges.append((name, float(bounds[0]), float(bounds[1])))
    samples = g.get("samples", "int", default=100)
    add = g.get("add", default=10)
    if isinstance(add, bool) or not isinstance(add, int) or add < 0:
        g._err(f"'add' must be an integer >= 0, got {add!r}")
    tol = g.get("tol", "number", default=None)
    if tol is not None and not tol >= 0:
        g._err(f"'tol' must be >= 0, not {tol}")
    seed = g.get("seed", default=1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        g._err(f"'seed' must be an integer >= 0, got {seed!r}")
    spec = GreedySpec(template, tuple(ranges), samples, seed, add, tol)
    g.done()
    return spec


def _digest_of(array):
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _field(s, src, resolve, allow_time):
    time = s.get("time", "number", default=0.0) if allow_time else 0.0
    value = s.get("value", "number")
    expression = s.get("expression", "str")
    file = s.get("file", "str")
    name = s.get("name", "str")
    thermal = s.get("thermal")
    if file and not file.endswith(".npy") and name is None:
        s._err(f"'name' (point-data array or HDF5 dataset) is needed to read '{file}'")
    given = [k for k, v in (("value", value), ("expression", expression), ("file", file),
                            ("thermal", thermal)) if v is not None]
    if len(given) != 1:
        s._err("give exactly one of 'value', 'expression', 'file', 'thermal'")
    if thermal is not None:
        if not isinstance(thermal, dict) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                and np.isfinite(v) for v in thermal.values()):
            s._err(f"'thermal' must be a table of parameter values (numbers), got {thermal!r}")
        thermal = tuple(sorted((k, float(v)) for k, v in thermal.items()))
    s.done()
    return FieldSpec(time, value, expression, resolve(file) if file else None, name, thermal)


def _number_or_expression(sec, key, required=True):
    v = sec.get(key, required=required)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        sec._err(f"'{key}' must be a number or an expression of x, y, z, got {v!r}")
    return float(v) if not isinstance(v, str) else v


def _thermal(sec, resolve):
    """The :class:`ThermalSpec` of a ``[thermal]`` section."""
    from rom.materials.tables import Table

    k = sec.get("conductivity", required=True)
    try:
        Table(k, "conductivity", low=0.0)
    except RomError as exc:
        sec._err(str(exc))
    conductivity = float(k) if isinstance(k, (int, float)) else tuple(map(tuple, k))
    lists = {}
    for key, cls, fields in (("convection", Convection, ("h", "T_ext")),
                             ("fixed", FixedTemperature, ("value",))):
        items = sec.get(key, default=[]) or []
        if not isinstance(items, list):
            sec._err(f"'{key}' must be a list of tables ([[thermal.{key}]])")
        out = []
        for i, d in enumerate(items):
            c = _Section(d, f"[[thermal.{key}]] #{i + 1}", sec.src)
            out.append(cls(c.get("set", "str", required=True),
                           *(_number_or_expression(c, f) for f in fields)))
            c.done()
        lists[key] = tuple(out)
    define = sec.get("define", default={}) or {}
    if not isinstance(define, dict) or not all(isinstance(v, str) for v in define.values()):
        sec._err("'define' must be a table of named expressions (strings)")
    parameters = sec.get("parameters", default={}) or {}
    if not isinstance(parameters, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in parameters.values()):
        sec._err("'parameters' must be a table of numbers")
    from rom.mesh import RESERVED_NAMES

    for name in list(parameters) + list(define):
        if not name.isidentifier() or name in RESERVED_NAMES:
            sec._err(f"'{name}' cannot name a parameter or a definition (not an identifier, "
                     "or one of the names of expressions: x, y, z, t, " +
                     ", ".join(sorted(RESERVED_NAMES - {"x", "y", "z", "t"})) + ")")
    if set(parameters) & set(define):
        sec._err("'" + "', '".join(sorted(set(parameters) & set(define))) +
                 "' is both a parameter and a definition")
    spec = ThermalSpec(conductivity, lists["convection"], lists["fixed"],
                       _number_or_expression(sec, "source", required=False),
                       tuple(define.items()),
                       tuple(sorted((k, float(v)) for k, v in parameters.items())),
                       sec.get("T_init", "number"), sec.get("rtol", "number", default=1e-10),
                       sec.get("max_iterations", "int", default=30))
    d = sec.get("dir", "str")
    if d is not None:
        spec = replace(spec, dir=resolve(d))
    if not spec.convection and not spec.fixed:
        sec._err("give at least one [[thermal.convection]] or [[thermal.fixed]] condition")
    if not 0 < spec.rtol < 1:
        sec._err(f"'rtol' must be in (0, 1), not {spec.rtol}")
    sec.done()
    return spec


def _thermal_files(seq, thermal, mesh_file, src, sets=()):
    """The fields of ``seq`` that give thermal parameters, with the file of their
    solution (named by a digest of the mesh file's path, the thermal problem, the
    case's definitions of the sets it names and the parameters) and the section's
    default parameters merged in."""
    import hashlib
    import json

    out = []
    defaults = dict(thermal.parameters)
    named = {c.set for c in thermal.convection + thermal.fixed}
    definitions = sorted(repr(d) for d in sets if d.name in named)
    for f in seq:
        if f.thermal is None:
            out.append(f)
            continue
        unknown = sorted(set(dict(f.thermal)) - set(defaults))
        if unknown:
            raise RomError(f"{src}: thermal parameter(s) {', '.join(unknown)} not declared in "
                           "[thermal.parameters] (declare each with its default value)")
        params = tuple(sorted({**defaults, **dict(f.thermal)}.items()))
        key = json.dumps([mesh_file, repr(replace(thermal, dir=None)), params, definitions])
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        out.append(replace(f, thermal=params, name="T",
                           file=os.path.join(thermal.dir, f"T_{digest}.h5")))
    return tuple(out)
