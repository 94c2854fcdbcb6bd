"""Meshes: named sets, partitioning among ranks, owned and ghost nodes.

Two levels:

* :class:`MeshData` -- the whole mesh as read from a file (serial, global
  numbering: node ids and cell ids are the file's, compacted). It resolves named
  node, face and cell sets, from the file's groups or from geometric predicates.
* :class:`Mesh` -- the distributed mesh of one rank: its cells (chosen by a graph
  partitioner), its nodes (owned first, then ghosts), the PETSc numbering of the
  nodes (contiguous per rank) and the map to the global (file) numbering used in
  every output, so that files do not depend on the number of ranks.

Every rank reads the file (meshio is serial) and computes the same partition;
only the local part is kept afterwards (rank 0 also keeps the global
:class:`MeshData` for output).
"""

from dataclasses import dataclass, field

import numpy as np

from rom import RomError
from rom.fem.elements import get_element

__all__ = ["MeshData", "Mesh", "SetDefinition", "evaluate_predicate", "partition_cells",
           "load_mesh", "RESERVED_NAMES"]


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


@dataclass(eq=False)
class MeshData:
    """A whole mesh in global numbering (serial).

    Attributes
    ----------
    points : ndarray (n_nodes, 3)
    cell_type : str
        meshio name of the (single) volume cell type.
    cells : ndarray (n_cells, n_nodes_e) of int64
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

    points: np.ndarray
    cell_type: str
    cells: np.ndarray
    element_groups: dict = field(default_factory=dict)
    node_groups: dict = field(default_factory=dict)
    source: str = "<memory>"
    definitions: dict = field(default_factory=dict)
    file_node_ids: np.ndarray = None
    n_file_points: int = None

    def __post_init__(self):
        if self.file_node_ids is None:
            self.file_node_ids = np.arange(len(self.points))
            self.n_file_points = len(self.points)
        self.element = get_element(self.cell_type)
        if self.cells.ndim != 2 or self.cells.shape[1] != self.element.n_nodes:
            raise RomError(f"{self.source}: {self.cell_type} cells need {self.element.n_nodes} "
                           f"nodes, got connectivity of shape {self.cells.shape}")
        if len(self.cells) and (self.cells.min() < 0 or self.cells.max() >= len(self.points)):
            raise RomError(f"{self.source}: cell connectivity refers to missing nodes")
        if not np.all(np.isfinite(self.points)):
            raise RomError(f"{self.source}: node coordinates contain NaN or inf")

    @property
    def n_nodes(self):
        return len(self.points)

    @property
    def n_cells(self):
        return len(self.cells)

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
        """All cell faces: ``(cell ids, local face ids, face connectivity)`` of the
        ``n_cells * n_faces`` faces, connectivity ``(n, n_nodes_f)`` outward."""
        el = self.element
        nf = len(el.faces)
        conn = self.cells[:, np.array(el.faces)]  # (c, nf, nnf)
        cell_ids = np.repeat(np.arange(self.n_cells), nf)
        local = np.tile(np.arange(nf), self.n_cells)
        return cell_ids, local, conn.reshape(-1, conn.shape[2])

    def _face_keys(self, conn):
        nc = get_element(self.element.face_type).n_corners
        return np.sort(conn[:, :nc], axis=1)

    def _matching_faces(self, conn):
        """Faces sorted by their corners: ``(order, same)`` with ``same[i]`` True when
        faces ``order[i]`` and ``order[i + 1]`` have the same corners."""
        keys = self._face_keys(conn)
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
        """Faces on the boundary (shared by no other cell): ``(cells, local faces, conn)``."""
        if not hasattr(self, "_boundary"):
            cells, local, conn = self.all_faces()
            order, same = self._matching_faces(conn)
            shared = np.zeros(len(order), dtype=bool)
            shared[1:] |= same
            shared[:-1] |= same
            b = np.sort(order[~shared])
            self._boundary = cells[b], local[b], conn[b]
        return self._boundary

    def dual_graph(self):
        """Cell adjacency through shared faces, as CSR ``(indptr, indices)``."""
        cells, _, conn = self.all_faces()
        order, same = self._matching_faces(conn)
        a = cells[order][:-1][same]
        b = cells[order][1:][same]
        rows = np.concatenate([a, b])
        cols = np.concatenate([b, a])
        import scipy.sparse as sp

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
                return np.unique(self.face_set(name)[2])
            return np.unique(self.cells[self.cell_set(name)])
        if name in self.node_groups:
            return self.node_groups[name]
        self._missing(name, "node")

    def face_set(self, name):
        """Boundary faces of set ``name``: ``(cell ids, local face ids, connectivity)``."""
        cells, local, conn = self.boundary_faces()
        d = self.definitions.get(name)
        if d is not None:
            if d.kind != "faces":
                raise RomError(f"set '{name}' is a set of {d.kind}, a face set is needed here")
            ok = evaluate_predicate(d.where, self.points, d.tol)
            sel = np.all(ok[conn], axis=1)
            return cells[sel], local[sel], conn[sel]
        g = self.element_groups.get(name)
        if g is None or not g["faces"]:
            if g is not None or name in self.node_groups:
                raise RomError(f"set '{name}' in {self.source} holds no surface elements; "
                               "a face set is needed here")
            self._missing(name, "face")
        keys = self._face_keys(conn)
        wanted = np.concatenate([self._face_keys(c) for c in g["faces"].values()])
        # match sorted corner keys of the group's faces against the boundary faces
        allk = np.vstack([keys, wanted])
        _, inv = np.unique(allk, axis=0, return_inverse=True)
        inv = inv.ravel()
        hit = np.isin(inv[: len(keys)], inv[len(keys):])
        n_missing = len(np.setdiff1d(inv[len(keys):], inv[: len(keys)]))
        if n_missing:
            raise RomError(f"face set '{name}': {n_missing} of its surface elements are not "
                           "boundary faces of the volume mesh")
        return cells[hit], local[hit], conn[hit]

    def cell_set(self, name):
        """Global cell ids of set ``name``."""
        d = self.definitions.get(name)
        if d is not None:
            if d.kind != "cells":
                raise RomError(f"set '{name}' is a set of {d.kind}, a cell set is needed here")
            centroids = self.points[self.cells[:, : self.element.n_corners]].mean(axis=1)
            return np.flatnonzero(evaluate_predicate(d.where, centroids, d.tol))
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
    centroids = data.points[data.cells[:, : data.element.n_corners]].mean(axis=1)
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


class Mesh:
    """The part of a distributed mesh held by one rank.

    Attributes
    ----------
    comm : mpi4py communicator
    element : Element
        Reference volume element.
    n_nodes_global, n_cells_global : int
    points : ndarray (n_local_nodes, 3)
        Local nodes: the ``n_owned`` owned nodes first, then the ghosts.
    cells : ndarray (n_local_cells, n_nodes_e)
        Local cells in local node numbering.
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
        self.element = data.element
        self.cell_type = data.cell_type
        self.source = data.source
        self.n_nodes_global = data.n_nodes
        self.n_cells_global = data.n_cells
        rank = comm.rank
        cell_rank = partition_cells(data, comm, partitioner)
        k = data.cells.shape[1]
        # node owner: lowest rank among the cells touching the node
        owner = np.full(data.n_nodes, comm.size, dtype=np.int64)
        np.minimum.at(owner, data.cells.ravel(), np.repeat(cell_rank, k))
        order = np.lexsort((np.arange(data.n_nodes), owner))
        petsc_of = np.empty(data.n_nodes, dtype=np.int64)
        petsc_of[order] = np.arange(data.n_nodes)
        counts = np.bincount(owner, minlength=comm.size)
        start = int(counts[:rank].sum())
        self.node_range = (start, start + int(counts[rank]))
        self.node_counts = counts

        self.cell_ids = np.flatnonzero(cell_rank == rank)
        gcells = data.cells[self.cell_ids]
        used = np.unique(gcells)
        is_owned = owner[used] == rank
        owned = used[is_owned][np.argsort(petsc_of[used[is_owned]])]
        ghosts = used[~is_owned][np.argsort(petsc_of[used[~is_owned]])]
        self.node_ids = np.concatenate([owned, ghosts])
        self.n_owned = len(owned)
        local_of = np.full(data.n_nodes, -1, dtype=np.int64)
        local_of[self.node_ids] = np.arange(len(self.node_ids))
        self.cells = local_of[gcells]
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
        """Node coordinates ``(n, n_nodes_e, 3)`` of local cells (all, or indices ``cells``)."""
        c = self.cells if cells is None else self.cells[cells]
        return self.points[c]

    # --- sets (local views) --------------------------------------------------------------
    def node_set(self, name, owned_only=False):
        """Local indices of the nodes of set ``name`` held by this rank."""
        ids = self._data_for_sets.node_set(name)
        loc = self._local_of[ids]
        loc = loc[loc >= 0]
        if owned_only:
            loc = loc[loc < self.n_owned]
        return np.sort(loc)

    def face_set(self, name):
        """Faces of set ``name`` on local cells: ``(local cell ids, local face ids,
        connectivity in local node numbering)``."""
        cells, local, conn = self._data_for_sets.face_set(name)
        lc = self._cell_local_of[cells]
        keep = lc >= 0
        return lc[keep], local[keep], self._local_of[conn[keep]]

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
        return (f"{self.cell_type} mesh {self.source}: {self.n_nodes_global} nodes, "
                f"{self.n_cells_global} cells, {self.comm.size} rank(s), cells per rank "
                f"{min(cells)}..{max(cells)}")


def load_mesh(source, comm, definitions=(), partitioner="ptscotch"):
    """Collective. Read (a path) or take (a :class:`MeshData`) a mesh and distribute it."""
    from rom.io.meshfile import read_mesh_file

    data = read_mesh_file(source) if isinstance(source, str) else source
    data.add_definitions(definitions)
    return Mesh(data, comm, partitioner)
