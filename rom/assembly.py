"""PETSc layer: dof numbering, one-shot matrix assembly, Dirichlet conditions, KSP.

Dofs are node-major: local dof ``bs * i + k`` for local node ``i`` and component
``k``; PETSc dof ``bs * node_petsc + k``, with the block size ``bs`` = 3 for
displacements and 1 for a scalar field such as a temperature. Vectors are ghosted
(owned dofs, then ghost dofs, the local node order of :class:`rom.mesh.Mesh`).

Matrices are AIJ with block size ``bs``. Their sparsity pattern is computed once, at
node level (one entry per ``bs x bs`` block): the node adjacency of the local cells (a sparse
product ``M^T M`` of the cell-node incidence), whose rows of ghost nodes are sent to
their owners, so that the owned rows include the contributions of other ranks' cells.
Only its counts per row are kept: PETSc preallocates them exactly, and the first
assembly inserts the entries. Element matrices
``(n_cells, n_e, n_e)`` are added by PETSc itself, cell by cell
(``MatSetValuesBlockedLocal`` through ``setValuesBlockedLocalRCV``; rows held by
other ranks are sent during assembly): no element-to-CSR map and no array of all
the matrix values is ever held in Python.
"""

import contextlib
import time

import numpy as np
import scipy.sparse as sp

from rom import RomError
from rom.petsc import PETSc

__all__ = ["DofMap", "MatrixAssembler", "LinearSolver", "DEFAULT_PETSC_OPTIONS"]

DEFAULT_PETSC_OPTIONS = {
    "ksp_type": "cg",
    "pc_type": "gamg",
    "ksp_rtol": 1e-10,
    "ksp_atol": 1e-50,
    "ksp_max_it": 2000,
    "pc_gamg_type": "agg",
    # unsmoothed aggregation, W-cycles, one Chebyshev/Jacobi sweep per level: a set-up
    # 5x cheaper than smoothed aggregation's and, with 1.5 to 2x its iterations, a
    # Chaboche Newton iteration 1.46x faster at 1M dofs and a linear elastic solve 1.35x
    # at 311k; per-rank memory on 2 ranks 0.63x the serial (0.88x with smoothed
    # aggregation) (BENCHMARKS, "The HF linear solver at growing size")
    "pc_gamg_agg_nsmooths": 0,
    "pc_mg_cycle_type": "w",
    "mg_levels_ksp_type": "chebyshev",
    "mg_levels_ksp_max_it": 1,
    "mg_levels_pc_type": "jacobi",
}
MUMPS_OPTIONS = {"ksp_type": "preonly", "pc_type": "cholesky",
                 "pc_factor_mat_solver_type": "mumps"}


def _index_dtype(n):
    """The smaller of ``int32`` and ``int64`` that holds indices below ``n``."""
    return np.int32 if n < 2 ** 31 else np.int64


class DofMap:
    """Dofs (``bs`` per node: 3 for displacements, 1 for a scalar field) of a
    distributed mesh.

    Attributes
    ----------
    bs : int
        Dofs per node (PETSc block size).
    n_owned, n_local, n_global : int
        Owned dofs, local (owned + ghost) dofs, global dofs.
    local_to_petsc : ndarray (n_local,)
    lgmap : PETSc.LGMap
        Local to PETSc numbering of the nodes (block size ``bs``).
    """

    def __init__(self, mesh, bs=3):
        self.mesh = mesh
        self.bs = bs = int(bs)
        self.comm = mesh.comm
        self.pcomm = PETSc.Comm(mesh.comm)
        self.n_owned = bs * mesh.n_owned
        self.n_local = bs * mesh.n_local_nodes
        self.n_global = bs * mesh.n_nodes_global
        self.local_to_petsc = (bs * mesh.node_petsc[:, None] + np.arange(bs)).ravel()
        self.lgmap = PETSc.LGMap().create(mesh.node_petsc.astype(PETSc.IntType), bsize=bs,
                                          comm=self.pcomm)
        self.ghost_nodes = mesh.node_petsc[mesh.n_owned:].astype(PETSc.IntType)

    def element_dofs(self, cells=None):
        """Local dofs ``(n, bs * n_nodes_e)`` of local cells (a slice within one cell
        block; all cells or an index array on a single-type mesh), node-major."""
        if isinstance(cells, slice):
            c = self.mesh.conn(cells)
        else:
            c = self.mesh.cells if cells is None else self.mesh.cells[cells]
        bs = self.bs
        return (bs * c[:, :, None] + np.arange(bs)).reshape(len(c), bs * c.shape[1])

    @property
    def cell_dofs(self):
        """Local dofs ``(n_cells, bs * n_nodes_e)`` of every local cell (computed on each
        access: use :meth:`element_dofs` on chunks)."""
        return self.element_dofs()

    def create_vector(self):
        """Collective. A ghosted PETSc vector (zeros)."""
        v = PETSc.Vec().createGhost(self.ghost_nodes, size=(self.n_owned, self.n_global),
                                    bsize=self.bs, comm=self.pcomm)
        v.set(0.0)
        return v

    def scatter_local(self, element_vectors, cells=None, out=None):
        """Sum element vectors ``(n, n_nodes_e, bs)`` (or ``(n, n_nodes_e)`` when
        ``bs`` is 1) of local cells (all, or a slice or index array ``cells``) into a
        local dof array ``(n_local,)`` (``out`` if given)."""
        local = np.bincount(self.element_dofs(cells).ravel(),
                            weights=np.asarray(element_vectors).ravel(),
                            minlength=self.n_local)
        if out is None:
            return local
        out += local
        return out

    def assemble_vector(self, element_vectors, vec=None, cells=None):
        """Collective. Sum element vectors ``(n_cells, n_nodes_e, bs)`` into a PETSc vector
        (contributions to ghost dofs are added to their owners)."""
        return self.local_to_vector(self.scatter_local(element_vectors, cells), vec, add=True)

    def local_to_vector(self, local, vec=None, add=False):
        """Collective. A PETSc vector from local values ``(n_local,)``: with ``add``
        the ghost values are added to their owners, else only owned values are used."""
        vec = vec or self.create_vector()
        with vec.localForm() as lf:
            if add:
                lf.array[:] = local
            else:
                lf.array[: self.n_owned] = local[: self.n_owned]
                lf.array[self.n_owned:] = 0.0
        if add:
            vec.ghostUpdate(addv=PETSc.InsertMode.ADD_VALUES, mode=PETSc.ScatterMode.REVERSE)
        return vec

    def vector_to_local(self, vec):
        """Collective. Local values ``(n_local,)`` (owned + ghosts) of a PETSc vector."""
        vec.ghostUpdate(addv=PETSc.InsertMode.INSERT_VALUES, mode=PETSc.ScatterMode.FORWARD)
        with vec.localForm() as lf:
            return lf.array.copy()

    def gather_nodal(self, local):
        """Collective. Global nodal array ``(n_nodes_global, bs)`` (file numbering) of
        local dof values, on every rank."""
        mesh = self.mesh
        parts = self.comm.allgather((mesh.node_ids[: mesh.n_owned], self.owned_nodal(local)))
        out = np.empty((mesh.n_nodes_global, self.bs))
        for ids, v in parts:
            out[ids] = v
        return out

    def owned_nodal(self, local):
        """Owned part of local dof values as ``(n_owned_nodes, bs)``."""
        return np.asarray(local)[: self.n_owned].reshape(-1, self.bs)


class MatrixAssembler:
    """Assemble element matrices into one PETSc AIJ matrix (block size ``dofmap.bs``)
    with a fixed pattern.

    Collective construction: computes the owned rows' node-level pattern once
    (module docstring) and keeps its counts, ``diag_blocks`` and ``offdiag_blocks``
    ``(n_owned_nodes,)``: the ``bs x bs`` blocks of each owned block row whose column node is
    owned, and the others (PETSc's preallocation of the diagonal and off-diagonal
    parts).
    """

    def __init__(self, dofmap):
        self.dofmap = dofmap
        comm = dofmap.comm
        mesh = dofmap.mesh
        n_cells = mesh.n_cells
        n_ln, n_own = mesh.n_local_nodes, mesh.n_owned
        n_nodes = mesh.n_nodes_global
        # connectivity of each cell block, for PETSc
        self._conn = [np.ascontiguousarray(b.cells, dtype=PETSc.IntType) for b in mesh.blocks]
        # node adjacency of the local cells: M^T M, M the (cells x nodes) incidence
        per_cell = np.concatenate([np.full(len(b.cells), b.element.n_nodes)
                                   for b in mesh.blocks])
        n_pairs = int(per_cell.sum())
        itype = _index_dtype(max(n_pairs, n_ln) + 1)
        M = sp.csr_matrix((np.ones(n_pairs, dtype=np.int32),
                           np.concatenate([c.ravel() for c in self._conn]),
                           np.concatenate([[0], np.cumsum(per_cell)]).astype(itype)),
                          shape=(n_cells, n_ln))
        del per_cell
        P = (M.T.tocsr() @ M).tocsr()
        del M
        petsc = mesh.node_petsc.astype(_index_dtype(n_nodes))
        # owned rows, columns in PETSc numbering
        end = P.indptr[n_own]
        Q = sp.csr_matrix((P.data[:end], petsc[P.indices[:end]], P.indptr[: n_own + 1]),
                          shape=(n_own, n_nodes))
        if comm.size > 1:
            # rows of ghost nodes go to their owners
            g_rows = np.repeat(petsc[n_own:], np.diff(P.indptr[n_own:]))
            g_cols = petsc[P.indices[end:]]
            starts = np.concatenate([[0], np.cumsum(mesh.node_counts)])
            owner = np.searchsorted(starts, g_rows, side="right") - 1
            order = np.argsort(owner, kind="stable")
            send = np.stack([g_rows[order], g_cols[order]], axis=1).astype(np.int64)
            del g_rows, g_cols, order
            send_counts = np.bincount(owner, minlength=comm.size) * 2
            recv_counts = np.array(comm.alltoall(list(send_counts)))
            recv = np.empty(recv_counts.sum(), dtype=np.int64)
            comm.Alltoallv([send.ravel(), send_counts], [recv, recv_counts])
            del send
            recv = recv.reshape(-1, 2)
            lo = mesh.node_range[0]
            R = sp.csr_matrix((np.ones(len(recv), dtype=np.int32),
                               (recv[:, 0] - lo, recv[:, 1])), shape=(n_own, n_nodes))
            del recv
            Q = Q + R
        del P
        Q.sum_duplicates()  # the union of the rows' columns
        # blocks per owned block row in the diagonal (owned columns) and off-diagonal parts
        lo, hi = mesh.node_range
        owned_col = ((Q.indices >= lo) & (Q.indices < hi)).astype(np.int64)
        diag = np.diff(np.concatenate([[0], np.cumsum(owned_col)])[Q.indptr])
        self.diag_blocks = diag.astype(PETSc.IntType)
        self.offdiag_blocks = (np.diff(Q.indptr) - diag).astype(PETSc.IntType)
        # nonzeros of the owned rows (dof level)
        self.nnz_owned = dofmap.bs ** 2 * int(Q.indptr[-1])

    def create_matrix(self):
        """Collective. An AIJ matrix (block size ``bs``), preallocated exactly (nonzeros
        per row in the diagonal and off-diagonal parts) and not assembled: the first
        :meth:`assemble` inserts the pattern (every entry of every element matrix,
        zeros included), without any further allocation."""
        d = self.dofmap
        bs = d.bs
        A = PETSc.Mat().create(comm=d.pcomm)
        A.setSizes(((d.n_owned, d.n_global), (d.n_owned, d.n_global)), bsize=bs)
        A.setType(PETSc.Mat.Type.AIJ)
        A.setPreallocationNNZ((np.repeat(bs * self.diag_blocks, bs),
                               np.repeat(bs * self.offdiag_blocks, bs)))
        A.setLGMap(d.lgmap, d.lgmap)
        A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        A.setOption(PETSc.Mat.Option.KEEP_NONZERO_PATTERN, True)
        return A

    def add(self, A, element_matrices, cells=None, nodes=None):
        """Add element matrices ``(n, n_e, n_e)`` (node-major dofs, ``n_e = bs *
        n_nodes_e``) of the local cells ``cells`` (a ``slice`` within one cell block;
        all cells or an index array on a single-type mesh) to
        ``A``, without assembling it. ``nodes (n, n_nodes_e)``, local node numbers, gives
        other elements instead of cells (e.g. boundary faces: their entries are in the
        cells' pattern)."""
        if nodes is not None:
            c = np.ascontiguousarray(nodes, dtype=PETSc.IntType)
        elif isinstance(cells, slice):  # within one cell block
            b, rows = self.dofmap.mesh.block_of(cells)
            c = self._conn[self.dofmap.mesh.blocks.index(b)][rows]
        else:  # a single-type mesh
            conn = self._conn[0] if len(self._conn) == 1 else self.dofmap.mesh.cells
            c = conn if cells is None else conn[cells]
        Ke = np.ascontiguousarray(element_matrices, dtype=PETSc.ScalarType)
        n_e = self.dofmap.bs * c.shape[1]
        assert Ke.shape == (len(c), n_e, n_e), (Ke.shape, c.shape)
        if len(c):
            A.setValuesBlockedLocalRCV(c, c, Ke.reshape(len(c), -1),
                                       addv=PETSc.InsertMode.ADD_VALUES)

    def assemble(self, A, element_matrices, extra=()):
        """Collective. Set ``A`` to the sum of element matrices over ranks.

        ``element_matrices``: an iterable of ``(cells, Ke)`` batches (``cells`` a slice
        or index array of local cells, ``Ke (n, n_e, n_e)``, e.g.
        :meth:`rom.hf.StructuralModel.tangent_matrices`), or one array of the
        element matrices of every local cell. ``extra``: ``(nodes, Ke)`` batches of
        other elements (e.g. the faces of an elastic support,
        :meth:`rom.loads.Loading.support_matrices`).
        """
        A.zeroEntries()
        if isinstance(element_matrices, np.ndarray):
            element_matrices = [(None, element_matrices)]
        for cells, Ke in element_matrices:
            self.add(A, Ke, cells)
        for nodes, Ke in extra:
            self.add(A, Ke, nodes=nodes)
        A.assemble()
        return A


class LinearSolver:
    """KSP wrapper: CG + GAMG (with the rigid-body near-nullspace for displacements)
    by default.

    Options, the PETSc way (:mod:`rom.petsc`). The KSP and its PC read PETSc's global
    options database through the public options ``prefix``: none for the HF solver
    (``-ksp_type``, ``-pc_type``, ``-ksp_monitor``, ``-ksp_view`` ...), ``thermal_`` for
    the steady thermal solver; the user gives them with ``PETSC_OPTIONS`` and the
    commands' ``--petsc``. Below them come, in this order, the project's defaults
    (:data:`DEFAULT_PETSC_OPTIONS`, or :data:`MUMPS_OPTIONS`) and the caller's
    ``options`` (a case's ``[solver.petsc]`` table, an API argument): an option of
    these applies only when the database has no value of it for this prefix. They
    never stay in the database: each set-up and solve of this solver puts them there
    for its duration (:meth:`_defaults`) and removes them after, so that several
    solvers of the same prefix coexist, the database (512 entries at most in PETSc
    3.18) holds only the user's options, and PETSc's ``-options_left`` names only the
    user's options never used.

    A Krylov solver keeps its preconditioner when the operator's values change (the
    next Newton iteration's tangent, the next step's) as long as the solves stay
    cheap: a solve with a kept preconditioner may take at most ``REBUILD_GROWTH``
    times the iterations of the first solve after the last rebuild (times the ratio
    of the decades of residual reduction asked, when it asks for more); past that it
    stops, the preconditioner is rebuilt from the current operator (a new KSP) and the
    solve starts again, to the same tolerance (those iterations count in the
    solve's). (PETSc's own reuse, GAMG's
    interpolation kept from the first tangent, lets the iterations grow without bound
    along a viscoplastic step: measured 25 to 541 per solve at 1M dofs.) A direct solver
    (``ksp_type preonly``) factorizes every new operator, on the same KSP (the
    symbolic analysis of the pattern is kept). :meth:`restart` forgets the
    preconditioner (the Newton solver calls it after a failed step, and when the
    points where the law flows have changed: :meth:`rom.hf.NewtonSolver._flowing`).

    Parameters
    ----------
    dofmap : DofMap
    options : dict
        PETSc options (without leading dash) overriding the project's defaults, below
        the database's; the key ``"linear_solver"`` = ``"mumps"`` selects the MUMPS
        direct solver's defaults.
    prefix : str
        Public options prefix of the KSP (default none: the HF solver's).

    Attributes
    ----------
    options : dict
        The options in effect: defaults, ``options``, then the database's of this
        prefix (``ksp_type``, ``pc_type``, ``ksp_rtol`` ... as PETSc reads them).
    given : list
        The names of ``options`` (checked by :meth:`check_options`).
    command_line : dict
        The database's options of this prefix (prefix removed), as at construction.
    """

    REBUILD_GROWTH = 1.5

    def __init__(self, dofmap, options=None, prefix=None):
        from rom.petsc import database

        options = dict(options or {})
        kind = options.pop("linear_solver", "gamg")
        opts = dict(DEFAULT_PETSC_OPTIONS)
        if kind == "mumps":
            opts = dict(MUMPS_OPTIONS)
        elif kind != "gamg":
            raise RomError(f"unknown linear_solver '{kind}' (gamg or mumps)")
        self.given = sorted(k.lstrip("-") for k in options)  # checked by check_options
        opts.update({k.lstrip("-"): v for k, v in options.items()})
        self.prefix = prefix or ""
        self.defaults = opts  # below the database's options (_defaults)
        self.command_line = {k[len(self.prefix):]: v for k, v in database().items()
                             if k.startswith(self.prefix)}
        self.options = {**opts, **self.command_line}
        self._used = set()  # the given options PETSc read (check_options)
        self._depth = 0  # nesting of _defaults
        self.dofmap = dofmap
        self.ksp = self._new_ksp()
        self._nullspace = None
        self.iterations = []
        self.rebuilds = 0  # preconditioner set-ups from scratch
        # wall seconds of those set-ups (GAMG's hierarchy, MUMPS's first factorization;
        # a MUMPS refactorization on the same KSP is done, and counted, in the solve)
        self.setup_seconds = 0.0
        self._base = None  # iterations of the first solve after the last rebuild
        self._fresh = False
        self._max_it = None  # the configured iteration limit
        self._rtol = None  # the configured relative tolerance
        self._base_tol = None  # the tolerance of the base solve
        self._kept = False

    @contextlib.contextmanager
    def _defaults(self):
        """The defaults and the caller's options in PETSc's database, under this
        solver's prefix, where the database has no value of theirs (the user's win),
        for the duration of the block (a set-up or a solve: PETSc reads some options
        only then, e.g. the multigrid levels' at the PC's set-up, ``-ksp_view`` at the
        end of a solve); then removed. Notes which given options PETSc read."""
        if self._depth:
            yield
            return
        from rom.petsc import database, option_used

        db = PETSc.Options()
        present = database()
        added = [k for k in self.defaults if self.prefix + k not in present]
        for k in added:
            db.setValue(self.prefix + k, _option_value(self.defaults[k]))
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            for k in added:
                if k in self.given and option_used(self.prefix + k):
                    self._used.add(k)
                db.delValue(self.prefix + k)

    def near_nullspace(self):
        """Collective. The six rigid-body modes of the owned nodes' coordinates."""
        if self._nullspace is None:
            mesh = self.dofmap.mesh
            coords = PETSc.Vec().createMPI((self.dofmap.n_owned, self.dofmap.n_global), bsize=3,
                                           comm=self.dofmap.pcomm)
            coords.array[:] = mesh.points[: mesh.n_owned].ravel()
            self._nullspace = PETSc.NullSpace().createRigidBody(coords)
        return self._nullspace

    def _new_ksp(self):
        ksp = PETSc.KSP().create(comm=self.dofmap.pcomm)
        if self.prefix:
            ksp.setOptionsPrefix(self.prefix)
        return ksp

    def restart(self):
        """The next operator gets a preconditioner of its own."""
        self._base, self._fresh = None, False

    def set_operator(self, A):
        """Collective. Use ``A`` (its near-nullspace set for GAMG); the preconditioner
        is kept or rebuilt (and set up here, from the options: :meth:`_defaults`) as
        the class docstring says. Raises :class:`rom.RomError` when PETSc refuses the
        options (an unknown type, a bad value)."""
        if self.options.get("pc_type") == "gamg" and self.dofmap.bs == 3:
            A.setNearNullSpace(self.near_nullspace())  # (a scalar field: the constants)
        krylov = self.options.get("ksp_type") != "preonly"
        if krylov and self._base:
            self.ksp.setOperators(A)
            self.ksp.getPC().setReusePreconditioner(True)
            self._kept = True  # solve() caps the iterations
            return
        self._kept = False
        if not krylov and self.rebuilds:  # a new factorization on the same KSP (PETSc
            self.ksp.setOperators(A)      # keeps the symbolic analysis of the pattern)
            self.rebuilds += 1
            return
        # everything rebuilt from A (GAMG: aggregates, interpolation) by a new KSP
        # (a KSPReset one, GAMG's set-up redone, failed to converge on the new operator)
        self.ksp.destroy()
        self.ksp = self._new_ksp()
        self.ksp.setOperators(A)
        t0 = time.perf_counter()
        try:
            with self._defaults():
                self.ksp.setFromOptions()
                self.ksp.setUp()
        except PETSc.Error as exc:
            raise RomError(self._refused(exc)) from None
        self.setup_seconds += time.perf_counter() - t0
        if self._max_it is None:
            self._max_it = self.ksp.getTolerances()[3]
        self.ksp.setTolerances(max_it=self._max_it)
        self.ksp.getPC().setReusePreconditioner(False)
        self.rebuilds += 1
        self._fresh = True

    def _refused(self, exc):
        """The message of PETSc's error ``exc`` while it read the options."""
        given = " ".join(f"-{k} {_option_value(self.defaults[k])}".strip()
                         for k in self.given)
        given += "".join(f" -{self.prefix}{k} {v}".rstrip()
                         for k, v in self.command_line.items())
        lines = [ln.split("] ", 1)[-1].strip() for ln in str(exc).splitlines()[1:]]
        cause = next((ln for ln in reversed(lines) if ln), f"error code {exc.ierr}")
        return f"PETSc refuses the linear solver options ({given.strip()}): {cause}"

    def check_options(self, A):
        """Collective. Set the solver up on ``A`` and, if PETSc has not read every
        option given by the caller yet, solve ``A x = 0`` once, so that it does;
        raises :class:`rom.RomError` naming the options when PETSc refuses one (unknown
        type, bad value) or when an option given by the caller (``options``) was never
        read (misspelt, or not applicable to the chosen solver and preconditioner) nor
        replaced by the user's. (The user's options of the database are reported, if
        never used, when the command ends: :func:`rom.petsc.unused_report`.) Costs one
        preconditioner set-up (in its own stage of ``-log_view``'s log)."""
        stage = PETSc.Log.Stage("Options check")
        stage.push()
        try:
            self.set_operator(A)
            if self._unused_given():  # options PETSc reads only when it solves
                with self._defaults():
                    b = A.createVecLeft()
                    x = A.createVecRight()
                    b.set(0.0)
                    self.ksp.solve(b, x)
        except PETSc.Error as exc:
            raise RomError(self._refused(exc)) from None
        finally:
            stage.pop()
        unused = self._unused_given()
        if unused:
            raise RomError("PETSc option(s) " + ", ".join(f"-{k}" for k in unused) +
                           " not used by the linear solver (misspelt, or not applicable to "
                           f"-ksp_type {self.ksp.getType()} -pc_type "
                           f"{self.ksp.getPC().getType()})")

    def _unused_given(self):
        """The caller's options PETSc has not read so far (nor replaced by the
        user's)."""
        return [k for k in self.given if k not in self._used and k not in self.command_line]

    def solve(self, b, x, rtol=None):
        """Collective. Solve ``A x = b`` (to the relative tolerance ``rtol`` if given,
        never below the configured ``ksp_rtol``); raises on divergence of the Krylov
        solver (after a second try with a rebuilt preconditioner if it had been
        kept)."""
        with self._defaults():
            return self._solve(b, x, rtol)

    def _solve(self, b, x, rtol):
        if self._rtol is None:
            self._rtol = self.ksp.getTolerances()[0]
        tol = self._rtol if rtol is None else max(rtol, self._rtol)
        self.ksp.setTolerances(rtol=tol)
        if self._kept:
            # the cap scales with the decades asked for: the base solve may have been
            # to another tolerance (the Newton forcing terms vary)
            decades = np.log(tol) / np.log(self._base_tol) if 0 < self._base_tol < 1 else 1
            self.ksp.setTolerances(max_it=min(int(
                self.REBUILD_GROWTH * self._base * max(decades, 1.0)) + 1, self._max_it))
        x0 = x.copy() if self._kept else None  # the start of a possible second try
        self.ksp.solve(b, x)
        reason = self.ksp.getConvergedReason()
        its = self.ksp.getIterationNumber()
        if reason < 0 and self._kept:  # the kept preconditioner no longer does
            self._base = None
            self.set_operator(self.ksp.getOperators()[0])
            self.ksp.setTolerances(rtol=tol)
            x0.copy(x)
            self.ksp.solve(b, x)
            reason = self.ksp.getConvergedReason()
            its += self.ksp.getIterationNumber()
        if x0 is not None:
            x0.destroy()
        self.iterations.append(its)
        if self._fresh and reason >= 0:
            self._base, self._base_tol = max(self.ksp.getIterationNumber(), 1), tol
        self._fresh = False
        if reason < 0:
            direct = self.factorization_failure()
            if direct:
                raise RomError(direct)
            raise RomError(f"linear solver diverged (KSP reason {reason}, "
                           f"{self.ksp.getIterationNumber()} iterations); try "
                           "mg_levels_ksp_max_it = 3 in [solver.petsc] (more "
                           "multigrid smoothing), or linear_solver = 'mumps' in "
                           "[solver]")
        return x

    def factorization_failure(self):
        """Collective. Why the direct solver (MUMPS) could not factorize the operator,
        from its ``INFOG(1)`` and ``INFOG(2)``, as a message naming the cause and what to
        change; None when the last solve did not fail in a MUMPS factorization."""
        pc = self.ksp.getPC()
        if (self.ksp.getConvergedReason() != PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED
                or pc.getType() not in ("lu", "cholesky")
                or pc.getFactorSolverType() != "mumps"):
            return None
        F = pc.getFactorMatrix()
        info, info2 = F.getMumpsInfog(1), F.getMumpsInfog(2)
        head = f"MUMPS could not factorize the matrix (INFOG(1) = {info}, INFOG(2) = {info2})"
        if info == -10:  # INFOG(2): the pivots eliminated before the null one
            return (f"{head}: the matrix is numerically singular (a null pivot after "
                    f"{info2} of {self.dofmap.n_global} equations); is the structure "
                    "held (Dirichlet conditions, elastic supports) and is every cell valid "
                    "(no zero stiffness, e.g. a material parameter 0 at some temperature)?")
        if info in (-8, -9, -11, -12, -13, -14, -15, -17, -20):
            return (f"{head}: its workspace was too small or could not be allocated; give "
                    "mat_mumps_icntl_14 = 100 (or more: the percentage of extra workspace, "
                    "PETSc's default 20 here) in [solver.petsc], or more memory")
        if info == -19:
            need = F.getMumpsInfog(26)  # MB of working memory the analysis estimated
            return (f"{head}: the working memory mat_mumps_icntl_23 allows is too small"
                    + " "
                    + (f"(the analysis estimated {need} MB in all)" if need > 0 else "")
                    + "; raise it or remove it")
        return f"{head}: see MUMPS's documentation of INFOG(1)"


def _option_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def dirichlet_rows(dofmap, local_dofs):
    """PETSc ids of the owned dofs among ``local_dofs``."""
    local_dofs = np.asarray(local_dofs, dtype=np.int64)
    owned = local_dofs[local_dofs < dofmap.n_owned]
    return dofmap.local_to_petsc[owned].astype(PETSc.IntType)
