"""Z-set (Zebulon) meshes and results, read by hand: no library in the stack reads them.

Files
-----
* ``.geof`` (ASCII mesh): ``***geometry``, ``**node`` (a line ``n dim``, then ``n``
  lines ``id x y z``), ``**element`` (a line ``m``, then ``m`` lines ``id type n1 n2
  ...``); ``***group`` with ``**nset NAME`` (node ids over the following lines),
  ``**elset NAME`` (element ids) and ``**faset NAME`` (one face per line: ``type n1
  n2 ...``); ``***return`` ends. Text after ``%`` is a comment; other groups
  (``**liset``, ...) are skipped. The binary ``.geo`` is not read.
* ``.ut`` (ASCII header of a run's results): ``**meshfile NAME`` (relative to the
  ``.ut``'s folder), ``**node`` and ``**integ`` with the names of the nodal and
  integration-point variables, ``**element``, then one line per stored time,
  ``record cycle sequence increment time``.
* ``<stem>.node``: big-endian float32, per stored time, per nodal variable (in the
  ``**node`` order), every node of the ``.geof`` in its order: ``(n_times,
  n_node_vars, n_nodes)``.
* ``<stem>.integ``: big-endian float32, per stored time, per element (``.geof``
  order), per integration-point variable (``**integ`` order), its integration
  points: ``(n_times, n_elements, n_integ_vars, n_ip)``.
* bare ``.node`` value files (the temperatures, pressures a Z-set input file reads
  with ``file NAME``): big-endian float32, nothing else.

Conventions found (against Z-set's own files, see ``tests/data/zset/README.md``)
-------------------------------------------------------------------------------
* Node orders (:data:`VOLUME_TYPES`, :data:`FACE_TYPES`: meshio's order is Z-set's
  taken at ``perm``):

  - ``c3d8`` is meshio's ``hexahedron`` order as it stands (four corners of a face
    counterclockwise seen from the opposite face, then that face): the 216 cells of
    the sample have a positive Jacobian in the project's element.
  - ``c3d10`` lists the corners 1, 2, 3 of a face, the mid-edge nodes of (1-2),
    (2-3), (3-1), those of (1-4), (2-4), (3-4), and the fourth corner last: meshio's
    order is ``(1, 2, 3, 10, 4, ..., 9)``. Found on the 1080 ``c3d10`` cells of the
    ``.geo`` Z-set wrote for Mordicus' ``MecaSequentialTetra`` test (not kept here):
    every mid-edge node at the midpoint of its corners, every cell positively
    oriented, and the strains of the stored displacements, by the project's
    ``tetra10`` in this order, equal the stored ``eto`` to float32 precision (6e-10
    for strains up to 1.4e-3) at Z-set's five points: ``(a, a, a), (b, a, a), (a, b,
    a), (a, a, b)`` with ``a = 1/6``, ``b = 1/2``, then the centre.
  - ``c3d20`` and the quadratic faces ``t6``, ``q8`` go around a face with corners
    and mid-edge nodes alternating; ``c3d20`` is the 8 nodes of one face, the 4
    mid-edge nodes of the edges joining it to the opposite face, then the 8 nodes of
    that face (the example of Z-set's geof manual, where an element's last 8 nodes
    are the next one's first 8; the permutation of BasicTools' ``GeofReader``). Its
    orientation is taken as that of ``c3d8``: no ``c3d20`` written by Z-set was at
    hand. ``t6`` alternating is seen in the same ``.geo``.
  - Face sets give each face with the outward normal (right-hand rule on the corner
    order), as the project's faces are.

  Every cell read is checked: a non-positive Jacobian at its centre in meshio's
  order raises :class:`rom.RomError` naming the element.
* Several element types in one mesh (tetrahedra and hexahedra, of one degree) give
  one cell block per meshio type (:class:`rom.mesh.MeshData`: types in alphabetical
  order, each block's cells in the file's order), so that the cells of such a mesh
  are not numbered as the file's elements (element sets follow the cells).
* Wedges and pyramids (``c3d6``, ``c3d15``, ``c3d5``, ``c3d13`` and their variants,
  :data:`REFUSED_TYPES`) are refused: their node orders are not established. Neither
  Z-set's documentation nor a Z-set-written mesh with them was at hand; the only
  source found, BasicTools' Z-set tables (``BasicTools/IO/ZsetTools.py``, the reader
  Mordicus uses), is not consistent: its ``c3d6`` permutation ``(0, 2, 1, 3, 5, 4)``
  makes Z-set's linear wedge VTK-handed (the triangle 1-2-3 turning the other way
  from its own and Abaqus' wedge), while its ``c3d15`` one (corners and mid-edge
  nodes alternating around the first triangle, the three vertical mid-edge nodes,
  then the second triangle, as ``c3d20``) keeps the corners in its own, Abaqus-handed
  order; it gives no permutation for ``c3d13`` though every other quadratic Z-set
  element alternates corners and mid-edge nodes, and nothing for ``c3d5``.
* Integration points of ``c3d8``: Z-set's eight Gauss points run with the first
  reference coordinate fastest, the project's (:func:`rom.fem.gauss_rule`, a
  ``meshgrid(..., indexing="ij")``) with the third fastest:
  ``project[q] = zset[IP_TO_PROJECT["c3d8"][q]]``, the same for every element (the
  strains of the sample's displacements at the project's points equal its ``eto``
  to float32 precision in all 216 cells with this permutation, and with no other).
  The project's ``tetra10`` rule (4 points) and ``tetra`` rule (1 point) are not
  Z-set's (5 and 4 points).
* Tensor components are ``11 22 33 12 23 31`` with the shear ones the tensor's
  (``eto12 = eps_12``, not ``2 eps_12`` nor ``sqrt2 eps_12``): the project's Mandel
  vector ``(11, 22, 33, sqrt2 23, sqrt2 13, sqrt2 12)`` is :func:`zset_to_mandel`
  of them (for ``eto`` and ``sig`` alike).
"""

import os

import numpy as np

from rom import RomError
from rom.fem.elements import get_element
from rom.io.results import NodalResults

__all__ = ["read_geof", "read_zset", "read_zset_integ", "read_zset_values",
           "zset_to_mandel", "VOLUME_TYPES", "FACE_TYPES", "REFUSED_TYPES",
           "INTEGRATION_POINTS", "IP_TO_PROJECT"]

# Z-set volume element -> (meshio type, meshio order as indices into Z-set's); the
# reduced-integration variants share their node layout (the project integrates every
# cell with its own full Gauss rule)
_C3D10 = (0, 1, 2, 9, 3, 4, 5, 6, 7, 8)
_C3D20 = (0, 2, 4, 6, 12, 14, 16, 18, 1, 3, 5, 7, 13, 15, 17, 19, 8, 9, 10, 11)
VOLUME_TYPES = {
    "c3d4": ("tetra", None), "c3d4r": ("tetra", None),
    "c3d10": ("tetra10", _C3D10), "c3d10_4": ("tetra10", _C3D10),
    "c3d10r": ("tetra10", _C3D10),
    "c3d8": ("hexahedron", None), "c3d8r": ("hexahedron", None),
    "c3d20": ("hexahedron20", _C3D20), "c3d20r": ("hexahedron20", _C3D20),
}
FACE_TYPES = {"t3": ("triangle", None), "t6": ("triangle6", (0, 2, 4, 1, 3, 5)),
              "q4": ("quad", None), "q8": ("quad8", (0, 2, 4, 6, 1, 3, 5, 7))}
# Z-set's wedges and pyramids (and their integration variants, BasicTools' list):
# refused, their node orders not being established (module docstring)
REFUSED_TYPES = {name: kind for kind, names in (
    ("wedge", "c3d6 c3d6r c3d15 c3d15r c3d15_9"),
    ("pyramid", "c3d5 c3d5_6 c3d5_27 c3d13 c3d13r")) for name in names.split()}
# integration points per element in the .integ file (Z-set's rules)
INTEGRATION_POINTS = {"c3d4": 4, "c3d4r": 1, "c3d10": 5, "c3d10_4": 4, "c3d10r": 1,
                      "c3d8": 8, "c3d8r": 1, "c3d20": 27, "c3d20r": 8}
# project quadrature point q is Z-set's integration point IP_TO_PROJECT[type][q]
IP_TO_PROJECT = {"c3d8": np.array([0, 4, 2, 6, 1, 5, 3, 7])}
# Z-set tensor components (11 22 33 12 23 31) -> Mandel (11 22 33 23 13 12)
_MANDEL_ORDER = np.array([0, 1, 2, 4, 5, 3])
_MANDEL_SCALE = np.array([1.0, 1.0, 1.0, np.sqrt(2.0), np.sqrt(2.0), np.sqrt(2.0)])


def zset_to_mandel(values):
    """Z-set tensor components ``(..., 6)`` in the order ``11 22 33 12 23 31`` (shear
    components as tensor components) -> the project's Mandel vectors ``(..., 6)``."""
    values = np.asarray(values, dtype=float)
    return values[..., _MANDEL_ORDER] * _MANDEL_SCALE


class _Lines:
    """The lines of a text file, comments and blank lines dropped, with their
    numbers."""

    def __init__(self, path, comment):
        if not os.path.isfile(path):
            raise RomError(f"Z-set file not found: {path}")
        self.path = path
        with open(path, encoding="latin-1") as f:
            raw = f.read().splitlines()
        self.items = []
        for no, text in enumerate(raw, 1):
            text = text.split(comment, 1)[0].strip()
            if text:
                self.items.append((no, text))
        self.pos = 0

    def error(self, what, no=None):
        if no is None:
            no = self.items[min(self.pos, len(self.items)) - 1][0] if self.items else 0
        return RomError(f"{self.path}, line {no}: {what}")

    def peek(self):
        return self.items[self.pos] if self.pos < len(self.items) else (None, None)

    def next(self, what):
        if self.pos >= len(self.items):
            last = self.items[-1][0] if self.items else 0
            raise RomError(f"{self.path}, line {last}: the file ends before {what} "
                           "(truncated?)")
        self.pos += 1
        return self.items[self.pos - 1]

    def block(self):
        """The lines up to the next keyword line (``**...``)."""
        start = self.pos
        while self.pos < len(self.items) and not self.items[self.pos][1].startswith("**"):
            self.pos += 1
        return self.items[start:self.pos]


def _ints(lines, text, no, what):
    try:
        return [int(t) for t in text.split()]
    except ValueError:
        raise lines.error(f"cannot read {what} from '{text[:60]}'", no) from None


def _parse_geof(path):
    """The content of a ``.geof`` file: node ids ``(n,)``, coordinates ``(n, 3)``, the
    elements (ids, Z-set types, connectivity as file node ids, line numbers) and the
    groups ``(kind, name, entries)``."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read(12) == b"Z7BINARYGEOF":
                raise RomError(f"{path}: a binary Z-set mesh (.geo); only ASCII .geof "
                               "meshes are read")
    lines = _Lines(path, "%")
    node_ids = coords = None
    elements = None
    groups = []
    section = None
    while True:
        no, text = lines.peek()
        if text is None:
            raise RomError(f"{path}: no ***return at the end (truncated?)")
        lines.pos += 1
        key = text.split()[0].lower()
        if key == "***return":
            break
        if key in ("***geometry", "***group"):
            section = key
            continue
        if key.startswith("***"):
            raise lines.error(f"unknown section '{text[:40]}' (a .geof has ***geometry, "
                              "***group and ***return)", no)
        if section == "***geometry" and key == "**node":
            node_ids, coords = _geof_nodes(lines)
        elif section == "***geometry" and key == "**element":
            if node_ids is None:
                raise lines.error("**element before **node", no)
            elements = _geof_elements(lines)
        elif section == "***group" and key in ("**nset", "**elset", "**faset"):
            words = text.split()
            if len(words) != 2:
                raise lines.error(f"'{text[:60]}': one set name expected after {key}", no)
            groups.append((key[2:], words[1], lines.block()))
        elif section == "***group" and key.startswith("**"):
            lines.block()  # another kind of group (liset, ...): not used here
        else:
            raise lines.error(f"unexpected line '{text[:60]}'"
                              + ("" if section else " before ***geometry"), no)
    if node_ids is None or elements is None:
        raise RomError(f"{path}: no " + ("**node" if node_ids is None else "**element")
                       + " block")
    return lines, node_ids, coords, elements, groups


def _geof_nodes(lines):
    no, text = lines.next("the node count")
    head = _ints(lines, text, no, "the node count and dimension")
    if len(head) != 2 or head[0] < 1:
        raise lines.error(f"'{text[:60]}': 'number_of_nodes dimension' expected", no)
    n, dim = head
    if dim != 3:
        raise lines.error(f"a {dim}-dimensional mesh: only 3D meshes are read", no)
    block = lines.block()
    if len(block) != n:
        where = block[-1][0] if block else no
        raise lines.error(f"{len(block)} node lines for the {n} announced "
                          f"(line {no})", where)
    words = [t.split() for _, t in block]
    for (lno, t), w in zip(block, words):
        if len(w) != 4:
            raise lines.error(f"'{t[:60]}': 'id x y z' expected", lno)
    try:
        table = np.array(words, dtype=float).reshape(n, 4)
    except ValueError:
        for (lno, t), w in zip(block, words):  # find the bad line
            try:
                [float(x) for x in w]
            except ValueError:
                raise lines.error(f"cannot read a node from '{t[:60]}'", lno) from None
        raise
    ids = table[:, 0]
    if not np.all(ids == np.round(ids)):
        bad = int(np.flatnonzero(ids != np.round(ids))[0])
        raise lines.error(f"node id '{block[bad][1].split()[0]}' is not an integer",
                          block[bad][0])
    ids = ids.astype(np.int64)
    if len(np.unique(ids)) != n:
        u, counts = np.unique(ids, return_counts=True)
        dup = int(u[counts > 1][0])
        raise lines.error(f"node {dup} defined twice", block[int(np.flatnonzero(ids == dup)[1])][0])
    if not np.all(np.isfinite(table[:, 1:])):
        bad = int(np.flatnonzero(~np.isfinite(table[:, 1:]).all(axis=1))[0])
        raise lines.error("a node coordinate is not finite", block[bad][0])
    return ids, table[:, 1:]


def _geof_elements(lines):
    no, text = lines.next("the element count")
    head = _ints(lines, text, no, "the element count")
    if len(head) != 1 or head[0] < 0:
        raise lines.error(f"'{text[:60]}': the number of elements expected", no)
    block = lines.block()
    if len(block) != head[0]:
        where = block[-1][0] if block else no
        raise lines.error(f"{len(block)} element lines for the {head[0]} announced "
                          f"(line {no})", where)
    ids, types, conns, line_nos = [], [], [], []
    for lno, t in block:
        words = t.split()
        if len(words) < 3:
            raise lines.error(f"'{t[:60]}': 'id type nodes...' expected", lno)
        etype = words[1].lower()
        try:
            ids.append(int(words[0]))
            conns.append([int(w) for w in words[2:]])
        except ValueError:
            raise lines.error(f"cannot read an element from '{t[:60]}'", lno) from None
        types.append(etype)
        line_nos.append(lno)
    return ids, types, conns, line_nos


def _connectivity(lines, rows, index, line_nos, what):
    """File node ids ``rows`` (a list of equal-length lists) -> node indices."""
    a = np.array(rows, dtype=np.int64)
    pos = np.searchsorted(index[0], a)
    pos = np.minimum(pos, len(index[0]) - 1)
    found = index[0][pos] == a
    if not found.all():
        r = int(np.flatnonzero(~found.all(axis=1))[0])
        node = int(a[r][~found[r]][0])
        raise lines.error(f"{what} refers to node {node}, which **node does not define",
                          line_nos[r])
    return index[1][pos]


def read_geof(path):
    """Read a Z-set ``.geof`` mesh into a :class:`rom.mesh.MeshData`.

    The nodes used by the volume elements are numbered compactly in the file's order
    (``file_node_ids`` their index among the file's nodes); element types are mapped
    to meshio's (:data:`VOLUME_TYPES`, node orders in the module docstring), one cell
    block per meshio type (types in alphabetical order, each block's cells in the
    file's order: in a mesh of several types the cells are not numbered as the
    file's elements); node sets become ``node_groups``, element sets
    ``element_groups[name]["cells"]`` (in the cells' numbering) and face sets
    ``element_groups[name]["faces"]`` (one connectivity per face type, in the set's
    order); an element or face set also gives its nodes as a node group, joined to a
    node set of the same name. Raises :class:`rom.RomError` naming the file and line
    for a missing file, a malformed or truncated line, an element type with no
    meshio counterpart or whose node order is not known (wedges and pyramids:
    :data:`REFUSED_TYPES`), linear and quadratic elements in one mesh, a set naming
    an unknown node or element, or a cell inverted in the converted order.
    """
    from rom.mesh import MeshData

    lines, node_ids, coords, (elem_ids, types, conns, line_nos), groups = _parse_geof(path)
    order = np.argsort(node_ids, kind="stable")
    index = (node_ids[order], order)
    refused = sorted(set(types) & set(REFUSED_TYPES))
    if refused:
        i = types.index(refused[0])
        n = sum(t in REFUSED_TYPES for t in types)
        raise lines.error(
            f"element {elem_ids[i]} is a '{refused[0]}' (a {REFUSED_TYPES[refused[0]]}; "
            f"{n} wedge or pyramid element(s) in the mesh): Z-set's node order of wedges "
            "and pyramids (c3d6, c3d15, c3d5, c3d13 and their variants) is not known "
            "here, so they are not read; convert the mesh (e.g. to an Abaqus deck or a "
            "gmsh file) to use them", line_nos[i])
    unknown = sorted(set(types) - set(VOLUME_TYPES))
    if unknown:
        i = types.index(unknown[0])
        raise lines.error(f"element {elem_ids[i]} is a '{unknown[0]}': unsupported element "
                          f"type (supported: {', '.join(VOLUME_TYPES)})", line_nos[i])
    if not types:
        raise RomError(f"{path}: no elements")
    degrees = {}
    for t in types:
        degrees.setdefault(get_element(VOLUME_TYPES[t][0]).degree, set()).add(t)
    if len(degrees) > 1:
        raise RomError(f"{path}: linear elements ({', '.join(sorted(degrees[1]))}) beside "
                       f"quadratic ones ({', '.join(sorted(degrees[2]))}): their faces "
                       "cannot match; one degree per mesh")
    mtypes = [VOLUME_TYPES[t][0] for t in types]
    bad = [k for k, c in enumerate(conns) if len(c) != get_element(mtypes[k]).n_nodes]
    if bad:
        i = bad[0]
        raise lines.error(f"element {elem_ids[i]} ({types[i]}) has {len(conns[i])} nodes, "
                          f"{get_element(mtypes[i]).n_nodes} expected", line_nos[i])
    # cell blocks: one per meshio type (alphabetical), the file's order within each
    types, mtypes = np.array(types), np.array(mtypes)
    rows_of = {t: np.flatnonzero(mtypes == t) for t in sorted(set(mtypes.tolist()))}
    cell_of = np.empty(len(types), dtype=np.int64)  # file element -> cell id
    start = 0
    for rows in rows_of.values():
        cell_of[rows] = start + np.arange(len(rows))
        start += len(rows)
    blocks = {}
    for t, rows in rows_of.items():
        cells = _connectivity(lines, [conns[k] for k in rows], index,
                              [line_nos[k] for k in rows], "an element")
        for zt in np.unique(types[rows]):  # Z-set's node order -> meshio's
            perm = VOLUME_TYPES[zt][1]
            if perm is not None:
                sel = types[rows] == zt
                cells[sel] = cells[sel][:, np.array(perm)]
        blocks[t] = cells

    # compact numbering of the nodes of the cells, in file order
    used = np.zeros(len(node_ids), dtype=bool)
    for cells in blocks.values():
        used[cells.ravel()] = True
    new_id = np.full(len(node_ids), -1, dtype=np.int64)
    new_id[used] = np.arange(used.sum())
    points = coords[used]
    for t, rows in rows_of.items():
        blocks[t] = new_id[blocks[t]]
        _check_orientation(lines, get_element(t), points, blocks[t],
                           [elem_ids[k] for k in rows], types[rows],
                           [line_nos[k] for k in rows])

    e_order = np.argsort(elem_ids, kind="stable")
    e_sorted = np.asarray(elem_ids, dtype=np.int64)[e_order]
    if len(np.unique(e_sorted)) != len(e_sorted):
        dup = int(e_sorted[np.flatnonzero(np.diff(e_sorted) == 0)[0]])
        raise lines.error(f"element {dup} defined twice",
                          line_nos[int(np.flatnonzero(np.array(elem_ids) == dup)[1])])
    element_groups, node_groups = {}, {}
    for kind, name, block in groups:
        if kind == "nset":
            ids = _set_ids(lines, block, index, "node set " + name)
            ids = new_id[ids]
            node_groups[name] = np.union1d(node_groups.get(name, []),
                                           ids[ids >= 0]).astype(np.int64)
            continue
        g = element_groups.setdefault(name, {"cells": np.zeros(0, np.int64), "faces": {}})
        if kind == "elset":
            idx = cell_of[_set_ids(lines, block, (e_sorted, e_order), "element set " + name)]
            g["cells"] = np.union1d(g["cells"], idx).astype(np.int64)
            nodes = np.concatenate([blocks[t][idx[(idx >= lo) & (idx < lo + len(r))] - lo]
                                    .ravel() for t, r, lo in _starts(rows_of)])
        else:
            faces = _faset(lines, block, index, new_id, name)
            for t, conn in faces.items():
                prev = g["faces"].get(t)
                g["faces"][t] = conn if prev is None else np.vstack([prev, conn])
            nodes = np.concatenate([c.ravel() for c in faces.values()]) if faces else []
        node_groups[name] = np.union1d(node_groups.get(name, []), nodes).astype(np.int64)
    return MeshData(points=points, cell_type="mixed", cells=list(blocks.items()),
                    element_groups=element_groups, node_groups=node_groups, source=path,
                    file_node_ids=np.flatnonzero(used), n_file_points=len(node_ids))


def _starts(rows_of):
    """``(type, file rows, first cell id)`` of each block."""
    start = 0
    for t, rows in rows_of.items():
        yield t, rows, start
        start += len(rows)


def _set_ids(lines, block, index, what):
    """Indices (into ``index``'s numbering) of the ids listed over ``block``."""
    ids, nos = [], []
    for no, text in block:
        row = _ints(lines, text, no, f"the ids of {what}")
        ids.extend(row)
        nos.extend([no] * len(row))
    if not ids:
        return np.zeros(0, np.int64)
    a = np.array(ids, dtype=np.int64)
    pos = np.minimum(np.searchsorted(index[0], a), len(index[0]) - 1)
    found = index[0][pos] == a
    if not found.all():
        i = int(np.flatnonzero(~found)[0])
        raise lines.error(f"{what} lists {a[i]}, which the mesh does not define", nos[i])
    return index[1][pos]


def _faset(lines, block, index, new_id, name):
    """The faces of face set ``name``: ``{meshio face type: connectivity}``, in the
    set's order within each type."""
    rows = {}
    for no, text in block:
        words = text.split()
        ftype = words[0].lower()
        if ftype not in FACE_TYPES:
            raise lines.error(f"face set {name}: unsupported face type '{words[0]}' "
                              f"(supported: {', '.join(FACE_TYPES)})", no)
        conn = _ints(lines, " ".join(words[1:]), no, f"the nodes of a face of {name}")
        mtype, perm = FACE_TYPES[ftype]
        if len(conn) != get_element(mtype).n_nodes:
            raise lines.error(f"face set {name}: a {ftype} face with {len(conn)} nodes", no)
        rows.setdefault(mtype, []).append((no, conn if perm is None else
                                           [conn[i] for i in perm]))
    out = {}
    for mtype, items in rows.items():
        nos = [no for no, _ in items]
        conn = new_id[_connectivity(lines, [c for _, c in items], index, nos,
                                    f"a face of face set {name}")]
        if np.any(conn < 0):
            r = int(np.flatnonzero((conn < 0).any(axis=1))[0])
            raise lines.error(f"face set {name}: a face with a node of no element", nos[r])
        out[mtype] = conn
    return out


def _check_orientation(lines, element, points, cells, elem_ids, types, line_nos):
    """Raise for a cell whose Jacobian at its reference centre is not positive (the
    cells of one block, with their ids, Z-set types and line numbers)."""
    dN = element.shape_gradients(element.center[None, :])[0]  # (n_nodes, 3)
    J = np.einsum("cak,aj->ckj", points[cells], dN)
    bad = np.flatnonzero(np.linalg.det(J) <= 0)
    if bad.size:
        i = int(bad[0])
        raise lines.error(f"element {elem_ids[i]} ({types[i]}): non-positive Jacobian in "
                          f"meshio's node order ({bad.size} such element(s)): inverted "
                          "or degenerate, or a node order this reader does not know",
                          line_nos[i])


def _read_ut(path):
    """The header of a ``.ut`` file: ``(mesh file, node names, integ names, times)``."""
    lines = _Lines(path, "#")
    meshfile, node, integ, times = None, None, [], []
    while True:
        no, text = lines.peek()
        if text is None:
            break
        lines.pos += 1
        words = text.split()
        key = words[0].lower()
        if key == "**meshfile":
            meshfile = words[1] if len(words) > 1 else lines.next("the mesh file name")[1]
        elif key == "**node":
            node = words[1:]
        elif key == "**integ":
            integ = words[1:]
        elif key.startswith("**"):
            continue  # **element (element variables, not read)
        else:
            if len(words) != 5:
                raise lines.error(f"'{text[:60]}': 'record cycle sequence increment time'"
                                  " expected", no)
            try:
                [int(w) for w in words[:4]]
                times.append(float(words[4]))
            except ValueError:
                raise lines.error(f"cannot read a time line from '{text[:60]}'", no) \
                    from None
    if meshfile is None:
        raise RomError(f"{path}: no **meshfile line")
    if node is None:
        raise RomError(f"{path}: no **node line (the nodal variables)")
    if not times:
        raise RomError(f"{path}: no time line")
    if not np.all(np.isfinite(times)):
        raise RomError(f"{path}: a time is not finite")
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, meshfile), node, integ, np.array(times)


def _binary(path, shape, what):
    """A big-endian float32 file of exactly ``prod(shape)`` values, mapped read-only
    (the caller converts the part it needs)."""
    if not os.path.isfile(path):
        raise RomError(f"Z-set file not found: {path} ({what})")
    count = int(np.prod(shape))
    size = os.path.getsize(path)
    if size != 4 * count:
        hint = " (truncated?)" if size < 4 * count else ""
        raise RomError(f"{path}: {size} bytes, {4 * count} expected for {what}{hint}")
    if count == 0:
        return np.zeros(shape, dtype=">f4")
    return np.memmap(path, dtype=">f4", mode="r", shape=shape)


def _index(names, wanted, path, kind):
    missing = [n for n in wanted if n not in names]
    if missing:
        raise RomError(f"{path}: no {kind} variable {', '.join(missing)} (its {kind} "
                       f"variables: {', '.join(names) or 'none'})")
    return [names.index(n) for n in wanted]


def _stem(ut_path):
    return os.path.splitext(ut_path)[0]


def read_zset(ut_path, names=("U1", "U2", "U3"), temperature=None):
    """Read a Z-set run's nodal results: :class:`rom.io.results.NodalResults` with the
    displacements (the nodal variables ``names``, in the order x, y, z) at every time
    of the ``.ut`` file, from ``<stem>.node``; the temperatures from the nodal
    variable ``temperature`` when given. ``node_ids`` are ``1..n``, the rank of each
    node in the ``.geof`` named by ``**meshfile`` (where ``points`` come from), not its
    number there. Raises :class:`rom.RomError` naming the file for a missing file, a
    malformed header line, a variable the ``.ut`` does not list, or a ``.node`` file
    whose size does not match the header (truncated)."""
    if len(names) != 3:
        raise RomError(f"read_zset: three displacement variables are needed, not {names}")
    geof, node_names, _, times = _read_ut(ut_path)
    wanted = list(names) + ([temperature] if temperature else [])
    idx = _index(node_names, wanted, ut_path, "nodal")
    _, _, coords, _, _ = _parse_geof(geof)
    n = len(coords)
    data = _binary(_stem(ut_path) + ".node", (len(times), len(node_names), n),
                   f"{len(times)} times x {len(node_names)} nodal variables x {n} nodes")
    disp = np.ascontiguousarray(data[:, idx[:3], :].transpose(0, 2, 1), dtype=float)
    temp = np.array(data[:, idx[3], :], dtype=float) if temperature else None
    return NodalResults(source=ut_path, node_ids=np.arange(1, n + 1), points=coords,
                        times=times, displacement=disp, temperature=temp)


def read_zset_integ(ut_path, names):
    """Integration-point variables ``names`` of a Z-set run, from ``<stem>.integ``:
    a dict name -> ``(n_times, n_elements, n_ip)`` in the ``.geof``'s element order
    (for a mesh of several element types not the order of :func:`read_geof`'s cells,
    numbered block by block) and Z-set's point order (:data:`IP_TO_PROJECT` maps it
    to the project's). Every
    element must have the same number of points (:data:`INTEGRATION_POINTS`). Raises
    :class:`rom.RomError` naming the file as :func:`read_zset` does."""
    geof, _, integ_names, times = _read_ut(ut_path)
    idx = _index(integ_names, list(names), ut_path, "integration-point")
    lines, _, _, (_, types, _, _), _ = _parse_geof(geof)
    unknown = sorted(set(types) - set(INTEGRATION_POINTS))
    if unknown:
        raise RomError(f"{geof}: element type(s) {', '.join(unknown)}: their number of "
                       "integration points is not known here")
    n_ip = {INTEGRATION_POINTS[t] for t in types}
    if len(n_ip) != 1:
        raise RomError(f"{geof}: elements with different numbers of integration points "
                       f"({', '.join(sorted(set(types)))}): not supported")
    n_ip = n_ip.pop()
    shape = (len(times), len(types), len(integ_names), n_ip)
    data = _binary(_stem(ut_path) + ".integ", shape,
                   f"{shape[0]} times x {shape[1]} elements x {shape[2]} variables x "
                   f"{n_ip} points")
    return {name: np.array(data[:, :, i, :], dtype=float) for name, i in zip(names, idx)}


def read_zset_values(path, n):
    """A bare Z-set value file (big-endian float32, e.g. the nodal temperatures a
    Z-set input reads with ``file NAME``): ``(n,)`` float64. Raises
    :class:`rom.RomError` when the file is missing or does not hold exactly ``n``
    values."""
    return np.array(_binary(path, (n,), f"{n} values"), dtype=float)
