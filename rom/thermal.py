"""Steady heat conduction (serial, scipy): the "previous thermal computation" that
produces nodal temperature fields for the mechanical cases.

``-div(k grad T) = q(x)`` on the mesh, ``T = T_fixed`` on the nodes of a set, with a
Gaussian heat source ``q = q0 exp(-|x - c|^2 / r^2)``; linear or quadratic elements
with their full Gauss rule.
"""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rom.fem import CellBasis

__all__ = ["steady_temperature"]


def steady_temperature(data, fixed_nodes, T_fixed, center, radius, q0, conductivity=1.0):
    """Nodal temperatures ``(n_nodes,)`` of the steady conduction problem on ``data``
    (a :class:`rom.mesh.MeshData`)."""
    basis = CellBasis(data.element, data.points[data.cells])
    g = basis.dNdx
    Ke = conductivity * np.einsum("cq,cqak,cqbk->cab", basis.dx, g, g)
    q = q0 * np.exp(-np.sum((basis.x - np.asarray(center)) ** 2, axis=-1) / radius ** 2)
    fe = np.einsum("cq,qa,cq->ca", basis.dx, basis.N, q)
    k = data.cells.shape[1]
    rows = np.repeat(data.cells, k, axis=1).ravel()
    cols = np.tile(data.cells, (1, k)).ravel()
    K = sp.csr_matrix((Ke.ravel(), (rows, cols)), shape=(data.n_nodes,) * 2)
    f = np.bincount(data.cells.ravel(), weights=fe.ravel(), minlength=data.n_nodes)
    T = np.zeros(data.n_nodes)
    fixed = np.zeros(data.n_nodes, dtype=bool)
    fixed[np.asarray(fixed_nodes)] = True
    T[fixed] = T_fixed
    free = ~fixed
    rhs = f[free] - K[free][:, fixed] @ T[fixed]
    T[free] = spla.spsolve(K[free][:, free].tocsc(), rhs)
    return T
