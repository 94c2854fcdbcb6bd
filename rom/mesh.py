"""Meshes: named sets, partitioning among ranks, owned and ghost nodes.

Two levels:

* :class:`MeshData` -- the whole mesh as read from a file (serial, global
  numbering: node ids and cell ids are the file's, compacted). It resolves named
  node, face and cell sets, from the file's groups or from geometric predicates.
* :class:`Mesh` -- the distributed mesh of one rank: its cells (chosen by a graph
  partitioner), its nodes (owned first, then ghosts), the PETSc numbering of the
  nodes (contiguous per rank) and the map to the global (file) numbering used in
  every output, so that files do not depend on the number of ranks.

Cells come in blocks, one per cell type (:class:`CellBlock`): a mixed mesh (hexahedra,
tetrahedra, wedges, pyramids) numbers its cells block after block, and every
consumer works block by block, each with its own element and quadrature.

Every rank reads the file (meshio is serial) and computes the same partition;
only the local part is kept afterwards (rank 0 also keeps the global
:class:`MeshData` for output).
"""

from dataclasses import dataclass

import numpy as np

from rom import RomError
from rom.fem.elements import get_element

__all__ = ["MeshData", "Mesh", "CellBlock", "SetDefinition", "evaluate_predicate",
           "partition_cells", "load_mesh", "RESERVED_NAMES"]


@dataclass(frozen=True)
class SetDefinition:
    """A named set defined by a geometric predicate (case file ``[sets.NAME]``).

    ``kind`` is ``"nodes"``, ``"faces"`` (boundary faces whose nodes all satisfy the
    predicate) or ``"cells"`` (cells whose centroid satisfies it). ``where`` is an
    expression of ``x, y, z`` where ``==``, ``<=`` and ``>=`` hold within ``tol``
    (absolute), e.g. ``"x == 0"``, ``"(x >= 0.5) & (y <= 0.1)"``,
    ``"abs(sqrt(x**2 + y**2) - 10) <= 0"``.
    """

    name: str
    kind: str
    where: str
    tol: float = 1e-8


class _Coord(np.ndarray):
    """Coordinates whose comparisons ``==``, ``<=``, ``>=``, ``!=`` hold within a tolerance."""

    tol = 1e-8

    def __eq__(self, other):
        return np.asarray(np.abs(np.asarray(self) - other) <= self.tol)

    def __ne__(self, other):
        return ~self.__eq__(other)

    def __le__(self, other):
        return np.asarray(np.asarray(self) <= np.asarray(other) + self.tol)

    def __ge__(self, other):
        return np.asarray(np.asarray(self) >= np.asarray(other) - self.tol)

    def __lt__(self, other):
        return np.asarray(np.asarray(self) < np.asarray(other) - self.tol)

    def __gt__(self, other):
        return np.asarray(np.asarray(self) > np.asarray(other) + self.tol)

    __hash__ = None


_PREDICATE_NAMES = {name: getattr(np, name) for name in (
    "sqrt", "abs", "sin", "cos", "tan", "arctan2", "exp", "log", "minimum", "maximum",
    "pi", "logical_and", "logical_or", "logical_not", "where")}
# names an expression always has (coordinates, time, functions): not for user names
RESERVED_NAMES = frozenset(_PREDICATE_NAMES) | {"x", "y", "z", "t"}


def evaluate_expression(expr, points, tol=1e-8, extra=None, what="expression"):
    """Evaluate an expression of ``x, y, z`` (numpy semantics) at ``points (n, 3)``.

    Comparisons hold within ``tol``. Names available: x, y, z, numpy's sqrt, abs,
    sin, cos, tan, arctan2, exp, log, minimum, maximum, where, pi, and ``extra``.
    """
    points = np.asarray(points, dtype=float)
    names = dict(_PREDICATE_NAMES)
    for i, c in enumerate("xyz"):
        v = np.ascontiguousarray(points[:, i]).view(_Coord)
        v.tol = tol
        names[c] = v
    names.update(extra or {})
    try:
        value = eval(compile(expr, f"<{what}>", "eval"), {"__builtins__": {}}, names)
    except Exception as exc:  # noqa: BLE001 - any error in user text is reported
        raise RomError(f"cannot evaluate {what} '{expr}': {type(exc).__name__}: {exc}") from None
    value = np.asarray(value)
    if value.shape == ():
        value = np.full(len(points), value[()])
    if value.shape != (len(points),):
        raise RomError(f"{what} '{expr}' gives shape {value.shape}, expected ({len(points)},)")
    return np.asarray(value)


def evaluate_predicate(expr, points, tol=1e-8):
    """Boolean mask ``(n,)`` of the points satisfying predicate ``expr``."""
    mask = evaluate_expression(expr, points, tol, what="set predicate")
    if mask.dtype != bool:
        raise RomError(f"set predicate '{expr}' is not a condition (gives {mask.dtype} values);"
                       " write e.g. 'x == 0'")
    return mask


@dataclass(frozen=True, eq=False)
class CellBlock:
    """The cells of one type of a mesh: cells ``start .. stop - 1`` of the mesh's
    numbering, with their connectivity ``cells (n, n_nodes_e)``."""

    element: object
    cells: np.ndarray
    start: int

    @property
    def type(self):
        return self.element.name

    @property
    def stop(self):
        return self.start + len(self.cells)

    def slice(self):
        return slice(self.start, self.stop)


class _Blocks:
    """Cell blocks of a mesh (:class:`MeshData` or :class:`Mesh`): one block per cell
    type, cells numbered block after block. A single-type mesh has one block and keeps
    ``element`` and ``cells``; a mixed mesh (``cell_type == "mixed"``) is used through
    its blocks (each with its own element and quadrature)."""

    blocks = ()

    @property
    def mixed(self):
        return len(self.blocks) > 1

    def _single(self):
        """The one block of a single-type mesh (:class:`rom.RomError` for a mixed one)."""
        if self.mixed:
            raise RomError(f"{self.source} mixes cell types "
                           f"({', '.join(b.type for b in self.blocks)}): use its blocks")
        return self.blocks[0]

    @property
    def element(self):
        return self._single().element

    @property
    def cells(self):
        return self._single().cells

    @property
    def cell_type(self):
        return self.blocks[0].type if len(self.blocks) == 1 else "mixed"

    @property
    def cell_types(self):
        """``{type: number of cells}`` in block order."""
        return {b.type: len(b.cells) for b in self.blocks}

    @property
    def block_cells(self):
        """``[(type, connectivity)]`` of the blocks: with ``cell_type="mixed"`` the
        ``cells`` argument of :class:`MeshData` for any mesh."""
        return [(b.type, b.cells) for b in self.blocks]

    def block_of(self, s):
        """The block holding the cells of slice ``s`` (within one block) and the slice's
        rows in it."""
        for b in self.blocks:
            if b.start <= s.start and s.stop <= b.stop:
                return b, slice(s.start - b.start, s.stop - b.start)
        raise ValueError(f"cells {s.start}..{s.stop} span several cell blocks")

    def chunks(self, size):
        """Slices of at most ``size`` cells, each within one block: ``[(block, slice)]``."""
        out = []
        for b in self.blocks:
            out += [(b, slice(i, min(i + size, b.stop))) for i in range(b.start, b.stop, size)]
        return out or [(self.blocks[0], slice(0, 0))]

    def conn(self, s=None):
        """Connectivity ``(n, n_nodes_e)`` of the cells of slice ``s`` (within one block;
        all cells of a single-type mesh when None)."""
        if s is None:
            return self.cells
        b, rows = self.block_of(s)
        return b.cells[rows]

    def cell_node_pairs(self):
        """``(cell ids, node ids)`` of every (cell, node) incidence, block after block."""
        cells = [np.repeat(np.arange(b.start, b.stop), b.element.n_nodes) for b in self.blocks]
        nodes = [b.cells.ravel() for b in self.blocks]
        return np.concatenate(cells), np.concatenate(nodes)

    def nodes_of_cells(self, ids):
        """Sorted node ids of the cells ``ids`` (cell numbering of this mesh)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = [b.cells[ids[(ids >= b.start) & (ids < b.stop)] - b.start].ravel()
               for b in self.blocks]
        return np.unique(np.concatenate(out))

    def qp_per_cell(self):
        """Quadrature points ``(n_cells,)`` of each cell: its element's full Gauss rule
        (:func:`rom.fem.quadrature.default_rule`)."""
        from rom.fem.quadrature import default_rule

        return np.concatenate([np.full(len(b.cells), default_rule(b.element).n_points)
                               for b in self.blocks]).astype(np.int64)

    def centroids(self, points=None):
        """Centroids ``(n_cells, 3)`` of the cells' corner nodes."""
        pts = self.points if points is None else points
        return np.concatenate([pts[b.cells[:, : b.element.n_corners]].mean(axis=1)
                               for b in self.blocks])


def _one_face_type(name, groups):
    """The one non-empty entry of ``{face type: (cells, local, conn)}`` (the only one
    when all are empty)."""
    full = [g for g in groups.values() if len(g[0])]
    if len(full) > 1:
        raise RomError(f"face set '{name}' holds faces of several types "
                       f"({', '.join(t for t, g in groups.items() if len(g[0]))}): "
                       "use face_groups")
    return full[0] if full else next(iter(groups.values()))


def _make_blocks(cell_type, cells, source):
    """Blocks from ``(cell_type, cells)``: one type and its connectivity, or
    ``cell_type == "mixed"`` and ``cells`` a list of ``(type, connectivity)`` (one entry
    per type, in the order of the cell numbering)."""
    pairs = cells if cell_type == "mixed" else [(cell_type, cells)]
    names = [get_element(t).name for t, _ in pairs]
    if names != sorted(names):  # files list their cell datasets in name order
        raise RomError(f"{source}: cell blocks must come in alphabetical order of their "
                       f"types, not {', '.join(names)}")
    blocks, start, seen = [], 0, set()
    for t, conn in pairs:
        el = get_element(t)
        if el.dim != 3:
            raise RomError(f"{source}: {t} is not a volume cell type")
        if el.name in seen:
            raise RomError(f"{source}: cell type {el.name} given twice (one block per type)")
        seen.add(el.name)
        conn = np.asarray(conn)
        if conn.ndim != 2 or conn.shape[1] != el.n_nodes:
            raise RomError(f"{source}: {el.name} cells need {el.n_nodes} nodes, got "
                           f"connectivity of shape {conn.shape}")
        blocks.append(CellBlock(el, conn, start))
        start += len(conn)
    if not blocks:
        raise RomError(f"{source}: no volume cells")
    if len({b.element.degree for b in blocks}) > 1:
        raise RomError(f"{source} mixes linear and quadratic cells "
                       f"({', '.join(b.type for b in blocks)}): their faces cannot match")
    return tuple(blocks)


class MeshData(_Blocks):
    """A whole mesh in global numbering (serial).

    Attributes
    ----------
    points : ndarray (n_nodes, 3)
    cell_type : str
        meshio name of the volume cell type, or ``"mixed"``.
    cells : ndarray (n_cells, n_nodes_e) of int64, or for ``"mixed"`` a list of
        ``(type, connectivity)`` pairs, one per cell type; cells are numbered block
        after block (:attr:`blocks`).
    element_groups : dict
        name -> ``{"cells": volume cell ids, "faces": {face type: connectivity}}``
        from the file's named groups.
    node_groups : dict
        name -> node ids (nodes of the group's elements, or the file's node set).
    definitions : dict
        name -> :class:`SetDefinition` added by the case file.
    file_node_ids : ndarray (n_nodes,) or None
        Index of each node among the file's points (the file may hold unused points).
    n_file_points : int or None
        Number of points in the file.
    """

    def __init__(self, points, cell_type, cells, element_groups=None, node_groups=None,
                 source="<memory>", definitions=None, file_node_ids=None, n_file_points=None):
        self.points = points
        self.element_groups = {} if element_groups is None else element_groups
        self.node_groups = {} if node_groups is None else node_groups
        self.source = source
        self.definitions = {} if definitions is None else definitions
        if file_node_ids is None:
            file_node_ids, n_file_points = np.arange(len(points)), len(points)
        self.file_node_ids, self.n_file_points = file_node_ids, n_file_points
        self.blocks = blocks = _make_blocks(cell_type, cells, source)
        for b in blocks:
            if len(b.cells) and (b.cells.min() < 0 or b.cells.max() >= len(self.points)):
                raise RomError(f"{self.source}: cell connectivity refers to missing nodes")
        if not np.all(np.isfinite(self.points)):
            raise RomError(f"{self.source}: node coordinates contain NaN or inf")

    @property
    def n_nodes(self):
        return len(self.points)

    @property
    def n_cells(self):
        return self.blocks[-1].stop

    @property
    def global_blocks(self):
        """``((type, first cell, end), ...)`` of the blocks (as :attr:`Mesh.global_blocks`)."""
        return tuple((b.type, b.start, b.stop) for b in self.blocks)

    def add_definitions(self, definitions):
        for d in definitions:
            if d.kind not in ("nodes", "faces", "cells"):
                raise RomError(f"set '{d.name}': kind must be nodes, faces or cells, "
                               f"not '{d.kind}'")
            self.definitions[d.name] = d

    def set_names(self):
        return sorted(set(self.element_groups) | set(self.node_groups) | set(self.definitions))

    def _missing(self, name, kind):
        raise RomError(f"{kind} set '{name}' not found in {self.source} nor in the case file; "
                       f"available sets: {', '.join(self.set_names()) or '(none)'}")

    # --- faces -------------------------------------------------------------------------
    def all_faces(self):
        """All cell faces grouped by face type: ``{face type: (cell ids, local face ids,
        connectivity (n, n_nodes_f))}``, cell after cell, connectivity outward."""
        parts = {}
        for b in self.blocks:
            el = b.element
            for ft in dict.fromkeys(el.face_types):
                ids = [j for j, t in enumerate(el.face_types) if t == ft]
                conn = b.cells[:, np.array([el.faces[j] for j in ids])]  # (c, nf, nnf)
                parts.setdefault(ft, []).append((
                    np.repeat(np.arange(b.start, b.stop), len(ids)),
                    np.tile(np.array(ids), len(b.cells)), conn.reshape(-1, conn.shape[2])))
        return {ft: tuple(np.concatenate(x) for x in zip(*p)) for ft, p in parts.items()}

    @staticmethod
    def _face_keys(conn, face_type):
        return np.sort(conn[:, : get_element(face_type).n_corners], axis=1)

    def _matching_faces(self, conn, face_type):
        """Faces sorted by their corners: ``(order, same)`` with ``same[i]`` True when
        faces ``order[i]`` and ``order[i + 1]`` have the same corners."""
        keys = self._face_keys(conn, face_type)
        n = max(self.n_nodes, 1)
        if n < 2 ** 31:  # pairs of corners packed in int64: a lexsort of 2 keys, not 3-4
            packed = [keys[:, i] * n + keys[:, i + 1] if i + 1 < keys.shape[1] else keys[:, i]
                      for i in range(0, keys.shape[1], 2)]
        else:
            packed = list(keys.T)
        order = np.lexsort(packed[::-1])
        k = np.stack([p[order] for p in packed], axis=1)
        return order, np.all(k[1:] == k[:-1], axis=1)

    def boundary_faces(self):
        """Faces on the boundary (shared by no other cell), grouped by face type:
        ``{face type: (cells, local faces, conn)}``."""
        if not hasattr(self, "_boundary"):
            self._boundary = {}
            for ft, (cells, local, conn) in self.all_faces().items():
                order, same = self._matching_faces(conn, ft)
                shared = np.zeros(len(order), dtype=bool)
                shared[1:] |= same
                shared[:-1] |= same
                b = np.sort(order[~shared])
                self._boundary[ft] = cells[b], local[b], conn[b]
        return self._boundary

    def dual_graph(self):
        """Cell adjacency through shared faces, as CSR ``(indptr, indices)``."""
        rows, cols = [], []
        for ft, (cells, _, conn) in self.all_faces().items():
            order, same = self._matching_faces(conn, ft)
            a = cells[order][:-1][same]
            b = cells[order][1:][same]
            rows += [a, b]
            cols += [b, a]
        import scipy.sparse as sp

        rows, cols = np.concatenate(rows), np.concatenate(cols)
        g = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(self.n_cells,) * 2)
        return g.indptr.astype(np.int64), g.indices.astype(np.int64)

    # --- sets --------------------------------------------------------------------------
    def node_set(self, name):
        """Global node ids of set ``name``."""
        d = self.definitions.get(name)
        if d is not None:
            if d.kind == "nodes":
                return np.flatnonzero(evaluate_predicate(d.where, self.points, d.tol))
            if d.kind == "faces":
                conns = [g[2].ravel() for g in self.face_groups(name).values()]
                return np.unique(np.concatenate(conns)) if conns else np.zeros(0, np.int64)
            return self.nodes_of_cells(self.cell_set(name))
        if name in self.node_groups:
            return self.node_groups[name]
        self._missing(name, "node")

    def face_groups(self, name):
        """Boundary faces of set ``name`` by face type: ``{face type: (cell ids, local
        face ids, connectivity)}`` (every face type of the boundary, possibly empty)."""
        boundary = self.boundary_faces()
        d = self.definitions.get(name)
        if d is not None:
            if d.kind != "faces":
                raise RomError(f"set '{name}' is a set of {d.kind}, a face set is needed here")
            ok = evaluate_predicate(d.where, self.points, d.tol)
            out = {}
            for ft, (cells, local, conn) in boundary.items():
                sel = np.all(ok[conn], axis=1)
                out[ft] = cells[sel], local[sel], conn[sel]
            return out
        g = self.element_groups.get(name)
        if g is None or not g["faces"]:
            if g is not None or name in self.node_groups:
                raise RomError(f"set '{name}' in {self.source} holds no surface elements; "
                               "a face set is needed here")
            self._missing(name, "face")
        out, n_missing = {}, 0
        corners = {ft: get_element(ft).n_corners for ft in boundary}
        for t, c in g["faces"].items():  # group faces no boundary face type can match
            if get_element(t).n_corners not in corners.values():
                n_missing += len(c)
        for ft, (cells, local, conn) in boundary.items():
            keys = self._face_keys(conn, ft)
            wanted = [c[:, : corners[ft]] for t, c in g["faces"].items()
                      if get_element(t).n_corners == corners[ft]]
            wanted = (np.sort(np.concatenate(wanted), axis=1) if wanted
                      else np.zeros((0, corners[ft]), np.int64))
            # match sorted corner keys of the group's faces against the boundary faces
            _, inv = np.unique(np.vstack([keys, wanted]), axis=0, return_inverse=True)
            inv = inv.ravel()
            hit = np.isin(inv[: len(keys)], inv[len(keys):])
            n_missing += len(np.setdiff1d(inv[len(keys):], inv[: len(keys)]))
            out[ft] = cells[hit], local[hit], conn[hit]
        if n_missing:
            raise RomError(f"face set '{name}': {n_missing} of its surface elements are not "
                           "boundary faces of the volume mesh")
        return out

    def face_set(self, name):
        """Boundary faces of set ``name`` when they are of one face type: ``(cell ids,
        local face ids, connectivity)`` (:meth:`face_groups` for any set)."""
        return _one_face_type(name, self.face_groups(name))

    def cell_set(self, name):
        """Global cell ids of set ``name``."""
        d = self.definitions.get(name)
        if d is not None:
            if d.kind != "cells":
                raise RomError(f"set '{name}' is a set of {d.kind}, a cell set is needed here")
            return np.flatnonzero(evaluate_predicate(d.where, self.centroids(), d.tol))
        g = self.element_groups.get(name)
        if g is None or not len(g["cells"]):
            self._missing(name, "cell")
        return g["cells"]


def _rcb(centroids, weights_parts, ids):
    """Recursive coordinate bisection of ``ids`` into ``len(weights_parts)`` parts."""
    n_parts = len(weights_parts)
    if n_parts == 1:
        return [ids]
    left = n_parts // 2
    frac = sum(weights_parts[:left]) / sum(weights_parts)
    pts = centroids[ids]
    axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
    order = ids[np.argsort(pts[:, axis], kind="stable")]
    cut = int(round(frac * len(ids)))
    return _rcb(centroids, weights_parts[:left], order[:cut]) + _rcb(
        centroids, weights_parts[left:], order[cut:])


def partition_cells(data, comm, method="ptscotch"):
    """Collective. Rank of every cell ``(n_cells,)``, the same array on every rank.

    ``method``: ``"ptscotch"`` (PETSc MatPartitioning on the dual graph, falls back
    to ``"rcb"`` if PETSc cannot) or ``"rcb"`` (recursive coordinate bisection of
    the cell centroids).
    """
    size = comm.size
    if size == 1:
        return np.zeros(data.n_cells, dtype=np.int64)
    if data.n_cells < size:
        raise RomError(f"{data.n_cells} cells cannot be shared among {size} ranks")
    if method == "ptscotch":
        try:
            return _partition_petsc(data, comm)
        except Exception as exc:  # noqa: BLE001 - any PETSc failure falls back to RCB
            if comm.rank == 0:
                print(f"warning: PT-Scotch partitioning failed ({exc}); using RCB", flush=True)
    elif method != "rcb":
        raise RomError(f"unknown partitioner '{method}' (ptscotch or rcb)")
    centroids = data.centroids()
    parts = _rcb(centroids, [1] * size, np.arange(data.n_cells))
    rank = np.empty(data.n_cells, dtype=np.int64)
    for r, ids in enumerate(parts):
        rank[ids] = r
    return rank


def _partition_petsc(data, comm):
    from rom.petsc import PETSc

    indptr, indices = data.dual_graph()
    n = data.n_cells
    lo, hi = n * comm.rank // comm.size, n * (comm.rank + 1) // comm.size
    ip = indptr[lo: hi + 1] - indptr[lo]
    ind = indices[indptr[lo]: indptr[hi]]
    pcomm = PETSc.Comm(comm)
    adj = PETSc.Mat().createAIJ(size=((hi - lo, n), (hi - lo, n)),
                                csr=(ip.astype(PETSc.IntType), ind.astype(PETSc.IntType),
                                     np.ones(len(ind))), comm=pcomm)
    part = PETSc.MatPartitioning().create(comm=pcomm)
    part.setAdjacency(adj)
    part.setType("ptscotch")
    part.setFromOptions()
    iset = PETSc.IS().create(comm=pcomm)
    part.apply(iset)
    local = iset.getIndices().astype(np.int64)
    rank = np.concatenate(comm.allgather(local))
    for obj in (iset, part, adj):
        obj.destroy()
    if np.bincount(rank, minlength=comm.size).min() == 0:
        raise RuntimeError("a rank received no cell")
    return rank


class Mesh(_Blocks):
    """The part of a distributed mesh held by one rank.

    Attributes
    ----------
    comm : mpi4py communicator
    blocks : tuple of :class:`CellBlock`
        The local cells of each cell type (every type of the mesh, possibly no cell),
        in local node numbering, numbered block after block; a single-type mesh also
        has ``element`` (its reference element) and ``cells`` (``(n_local_cells,
        n_nodes_e)``).
    global_blocks : tuple of ``(type, first cell, end)``
        The cell types of the whole mesh and their global cell ranges.
    n_nodes_global, n_cells_global : int
    points : ndarray (n_local_nodes, 3)
        Local nodes: the ``n_owned`` owned nodes first, then the ghosts.
    cell_ids : ndarray (n_local_cells,)
        Global (file) ids of the local cells.
    node_ids : ndarray (n_local_nodes,)
        Global (file) ids of the local nodes.
    node_petsc : ndarray (n_local_nodes,)
        PETSc (contiguous per rank) ids of the local nodes.
    node_file_ids : ndarray (n_local_nodes,)
        Index of the local nodes among the mesh file's points.
    node_range : (int, int)
        PETSc ids of the owned nodes.
    data : MeshData or None
        The global mesh, on rank 0 only.
    """

    def __init__(self, data, comm, partitioner="ptscotch"):
        self.comm = comm
        self.source = data.source
        self.n_nodes_global = data.n_nodes
        self.n_cells_global = data.n_cells
        # the global blocks: (type, first cell, end) of every cell type
        self.global_blocks = tuple((b.type, b.start, b.stop) for b in data.blocks)
        rank = comm.rank
        cell_rank = partition_cells(data, comm, partitioner)
        pair_cells, pair_nodes = data.cell_node_pairs()
        # node owner: lowest rank among the cells touching the node
        owner = np.full(data.n_nodes, comm.size, dtype=np.int64)
        np.minimum.at(owner, pair_nodes, cell_rank[pair_cells])
        del pair_cells, pair_nodes
        order = np.lexsort((np.arange(data.n_nodes), owner))
        petsc_of = np.empty(data.n_nodes, dtype=np.int64)
        petsc_of[order] = np.arange(data.n_nodes)
        counts = np.bincount(owner, minlength=comm.size)
        start = int(counts[:rank].sum())
        self.node_range = (start, start + int(counts[rank]))
        self.node_counts = counts

        self.cell_ids = np.flatnonzero(cell_rank == rank)  # sorted: block after block
        used = data.nodes_of_cells(self.cell_ids)
        is_owned = owner[used] == rank
        owned = used[is_owned][np.argsort(petsc_of[used[is_owned]])]
        ghosts = used[~is_owned][np.argsort(petsc_of[used[~is_owned]])]
        self.node_ids = np.concatenate([owned, ghosts])
        self.n_owned = len(owned)
        local_of = np.full(data.n_nodes, -1, dtype=np.int64)
        local_of[self.node_ids] = np.arange(len(self.node_ids))
        blocks, first = [], 0
        for b in data.blocks:
            ids = self.cell_ids[(self.cell_ids >= b.start) & (self.cell_ids < b.stop)]
            blocks.append(CellBlock(b.element, local_of[b.cells[ids - b.start]], first))
            first += len(ids)
        self.blocks = tuple(blocks)
        self.points = data.points[self.node_ids]
        self.node_file_ids = data.file_node_ids[self.node_ids]
        self.n_file_points = data.n_file_points
        self.node_petsc = petsc_of[self.node_ids]
        self.data = data if rank == 0 else None
        self._local_of = local_of
        self._cell_local_of = np.full(data.n_cells, -1, dtype=np.int64)
        self._cell_local_of[self.cell_ids] = np.arange(len(self.cell_ids))
        # named sets, resolved globally (every rank has the file) and localized
        self._data_for_sets = data

    # --- sizes ------------------------------------------------------------------------
    @property
    def n_local_nodes(self):
        return len(self.node_ids)

    @property
    def n_cells(self):
        return len(self.cell_ids)

    def cell_coordinates(self, cells=None):
        """Node coordinates ``(n, n_nodes_e, 3)`` of local cells (all cells of a
        single-type mesh, a slice within one block, or indices in one block)."""
        if cells is None or isinstance(cells, slice):
            return self.points[self.conn(cells)]
        return self.points[self.cells[cells]]

    def global_qp_ids(self, counts):
        """Global quadrature ids of the local quadrature points, cell after cell, for
        ``counts`` = ``{cell type: points per cell}``: the points of global cell ``g``
        of a block come after those of every earlier cell."""
        out, base = [], 0
        for (t, start, stop), b in zip(self.global_blocks, self.blocks):
            nq = counts[t]
            ids = self.cell_ids[b.start: b.stop] - start
            out.append((base + ids[:, None] * nq + np.arange(nq)).ravel())
            base += (stop - start) * nq
        return np.concatenate(out)

    # --- sets (local views) --------------------------------------------------------------
    def node_set(self, name, owned_only=False):
        """Local indices of the nodes of set ``name`` held by this rank."""
        ids = self._data_for_sets.node_set(name)
        loc = self._local_of[ids]
        loc = loc[loc >= 0]
        if owned_only:
            loc = loc[loc < self.n_owned]
        return np.sort(loc)

    def face_groups(self, name):
        """Faces of set ``name`` on local cells by face type: ``{face type: (local cell
        ids, local face ids, connectivity in local node numbering)}``."""
        out = {}
        for ft, (cells, local, conn) in self._data_for_sets.face_groups(name).items():
            lc = self._cell_local_of[cells]
            keep = lc >= 0
            out[ft] = lc[keep], local[keep], self._local_of[conn[keep]]
        return out

    def face_set(self, name):
        """Faces of set ``name`` on local cells when they are of one face type (as
        :meth:`face_groups`)."""
        return _one_face_type(name, self.face_groups(name))

    def cell_set(self, name):
        """Local indices of the cells of set ``name`` held by this rank."""
        lc = self._cell_local_of[self._data_for_sets.cell_set(name)]
        return np.sort(lc[lc >= 0])

    def release_global(self):
        """Drop the global arrays on ranks other than 0 (after sets are resolved)."""
        if self.comm.rank != 0:
            self._data_for_sets = None

    def summary(self):
        """Collective. One-line description (sizes and balance)."""
        cells = self.comm.allgather(self.n_cells)
        types = " + ".join(t for t, _, _ in self.global_blocks)
        return (f"{types} mesh {self.source}: {self.n_nodes_global} nodes, "
                f"{self.n_cells_global} cells, {self.comm.size} rank(s), cells per rank "
                f"{min(cells)}..{max(cells)}")


def load_mesh(source, comm, definitions=(), partitioner="ptscotch"):
    """Collective. Read (a path) or take (a :class:`MeshData`) a mesh and distribute it."""
    from rom.io.meshfile import read_mesh_file

    data = read_mesh_file(source) if isinstance(source, str) else source
    data.add_definitions(definitions)
    return Mesh(data, comm, partitioner)
