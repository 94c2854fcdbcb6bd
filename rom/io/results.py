"""Other solvers' results: the small interface every reader returns, and the matching
of their nodes to a case's mesh.

A reader (:func:`rom.io.frd.read_frd`, ...) returns :class:`NodalResults`: the nodes
as the file numbers them, their coordinates, the result times, the nodal
displacements at each time and, when the file has them, the nodal temperatures.
:func:`match_nodes` then maps the file's nodes onto the mesh a case computes on.
"""

from dataclasses import dataclass

import numpy as np

from rom import RomError


@dataclass
class NodalResults:
    """Nodal results of another solver, as read from its files.

    ``node_ids`` ``(n,)`` the file's node numbers; ``points`` ``(n, 3)`` their
    coordinates; ``times`` ``(k,)`` the result times (the step values the file gives:
    total time for a static or transient analysis); ``displacement`` ``(k, n, 3)``;
    ``temperature`` ``(k, n)`` or None; ``source`` the file read.
    """

    source: str
    node_ids: np.ndarray
    points: np.ndarray
    times: np.ndarray
    displacement: np.ndarray
    temperature: np.ndarray = None

    def __post_init__(self):
        n, k = len(self.node_ids), len(self.times)
        if self.points.shape != (n, 3) or self.displacement.shape != (k, n, 3) or (
                self.temperature is not None and self.temperature.shape != (k, n)):
            raise RomError(f"{self.source}: inconsistent sizes ({n} nodes, points "
                           f"{self.points.shape}, {k} times, displacement "
                           f"{self.displacement.shape})")
        for name in ("points", "displacement", "temperature"):
            a = getattr(self, name)
            if a is not None and not np.all(np.isfinite(a)):
                raise RomError(f"{self.source}: {name} holds values that are not finite")


def match_nodes(results, points, tol=1e-5):
    """The index into ``results``' nodes of each of the mesh nodes ``points``
    ``(m, 3)``: ``order`` with ``results.points[order] ~ points``.

    By numbering first: when the file numbers its nodes 1..m in the mesh's order
    and the coordinates agree within ``tol`` times the mesh's size; otherwise by
    coordinates (nearest file node within that tolerance, each used once). Raises
    :class:`rom.RomError` saying how many mesh nodes found no file node, and where
    (the first few coordinates), or when the counts differ. (The default ``tol``
    admits the rounding of files that print 5 significant digits, as CalculiX's ASCII
    ``.frd`` does.)
    """
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=float)
    size = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
    eps = tol * (size if size > 0 else 1.0)
    if len(results.node_ids) < len(points):
        raise RomError(f"{results.source}: {len(results.node_ids)} nodes for a mesh of "
                       f"{len(points)}")
    ids = np.asarray(results.node_ids)
    if len(ids) == len(points) and np.array_equal(np.sort(ids), np.arange(1, len(ids) + 1)):
        order = np.argsort(ids)
        if np.abs(results.points[order] - points).max() <= eps:
            return order
    dist, order = cKDTree(results.points).query(points, distance_upper_bound=eps)
    bad = np.flatnonzero(~np.isfinite(dist))
    if bad.size:
        where = "; ".join(", ".join(f"{c:.6g}" for c in points[i]) for i in bad[:3])
        raise RomError(f"{results.source}: {bad.size} of {len(points)} mesh nodes have no "
                       f"node of the file within {eps:.3g} (e.g. at {where})")
    if len(np.unique(order)) != len(order):
        raise RomError(f"{results.source}: several mesh nodes match the same node of the "
                       f"file within {eps:.3g} (duplicate nodes?)")
    return order
