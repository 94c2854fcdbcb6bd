"""One-shot assembly against a plain scipy COO sum of the same element matrices."""

import numpy as np
import pytest
import scipy.sparse as sp

from rom.assembly import DofMap, MatrixAssembler
from rom.fem import CellBasis
from rom.materials import isotropic_stiffness
from rom.mesh import load_mesh
from rom.meshgen import box_mesh


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["tetra10", "hexahedron"])
def test_matrix_equals_coo_sum(name, comm):
    data = box_mesh((3, 2, 2), (1, 1, 1), name, distort=0.2)
    mesh = load_mesh(data, comm)
    dm = DofMap(mesh)
    asm = MatrixAssembler(dm)
    basis = CellBasis(mesh.element, mesh.cell_coordinates())
    C = isotropic_stiffness(np.full(basis.dx.shape, 1e3), np.full(basis.dx.shape, 0.3))
    Ke = basis.tangent(C)
    Ke = Ke * (1 + np.arange(len(Ke)))[:, None, None]  # cell-dependent, to catch mix-ups
    A = asm.assemble(asm.create_matrix(), asm.local_values(Ke))
    # reference: every rank's element matrices in PETSc numbering, summed by scipy
    rows = dm.local_to_petsc[dm.cell_dofs]
    coo = comm.allgather((np.repeat(rows, rows.shape[1], axis=1).ravel(),
                          np.tile(rows, (1, rows.shape[1])).ravel(), Ke.ravel()))
    r, c, v = (np.concatenate(x) for x in zip(*coo))
    ref = sp.csr_matrix((v, (r, c)), shape=(dm.n_global,) * 2).toarray()
    lo, hi = A.getOwnershipRange()
    ip, ind, val = A.getValuesCSR()
    mine = sp.csr_matrix((val, ind, ip), shape=(hi - lo, dm.n_global)).toarray()
    np.testing.assert_allclose(mine, ref[lo:hi], atol=1e-12 * np.abs(ref).max())
    # the preallocated pattern is exactly the element connectivity (no extra allocation)
    assert A.getInfo()["mallocs"] == 0
