"""HDF5 snapshot store of a high-fidelity run (global numbering, rank-count independent).

Layout of ``<dir>/snapshots.h5``::

    /mesh/points (n_nodes, 3)             /mesh/cells/<type> (n_cells, k) per cell type
    /mesh/topology                        mixed meshes: XDMF "Mixed" connectivity
    /quadrature/weights (n_qp,)           weight x Jacobian of every quadrature point
    /quadrature/cell (n_qp,)              its cell;  /quadrature/points (n_qp, 3)
    /time (n_steps,)
    /steps/<k>/U (n_nodes, 3)             nodal displacement of step k
    /steps/<k>/T (n_nodes,)               nodal temperature (the input of step k)
    /steps/<k>/qp/<name> (n_qp[, c])      sigma, eps, and the law's internal variables
                                          (eps_vp, X, p), Mandel notation
    /steps/<k>/cells/<name> (n_cells, c)  cell averages (sigma and eps as XDMF Tensor6)
    /steps/<k>/nodes/<name> (n_nodes[, c]) nodal fields: sigma_nodal (Tensor6),
                                          von_mises_nodal, p_nodal, extrapolated from
                                          the quadrature points and averaged at nodes,
                                          and of sigma_nodal: principal_stress_nodal
                                          (n_nodes, 3) (sigma_1 >= sigma_2 >= sigma_3)
                                          and max_principal_nodal (sigma_1)
    /steps/<k>/reactions (n_sets, 3)      reaction force on each [[dirichlet]] set (the
                                          force of the supports on the structure,
                                          rom.hf.ReactionForces); attribute sets: names
                                          (fixed-length byte strings)
    attrs: format = "rom-snapshots", format_version, code_version, case_text,
           case_name, law, loading (the named loading, if any), completed_steps,
           steps_time and timed_steps (wall time of the solver steps)

Global quadrature ids: the points of every cell, cell after cell (each cell type with
its element's full Gauss rule, :meth:`rom.mesh.Mesh.global_qp_ids`). A step is written
collectively, then ``completed_steps`` is raised and the file flushed, so a killed run
loses at most the step in progress; :meth:`SnapshotStore.open_resume` discards any
partial step and returns the state of the last complete one. With h5py's MPI build
(under mpirun) every rank writes its contiguous block of the global numbering
(values are first moved to their block's rank); otherwise values are gathered on
rank 0, which writes. ``snapshots.xdmf`` next to the file opens the time series in
ParaView (nodal U, T and stresses, cell averages; one grid per step,
:mod:`rom.io.xdmf`).
"""

import os

import numpy as np

from rom import RomError, __version__, mpi_op
from rom.fem.kernels import principal_stresses
from rom.io.xdmf import cell_datasets, mandel_to_tensor6, topology, write_xdmf

__all__ = ["SnapshotStore", "SeriesWriter", "BlockLayout", "read_snapshots", "prepare_output",
           "principal_node_fields", "FORMAT", "FORMAT_VERSION"]

FORMAT = "rom-snapshots"
FORMAT_VERSION = 1


def principal_node_fields(sigma_nodal):
    """The principal stresses of nodal stresses ``sigma_nodal (n, 6)`` (Mandel):
    ``{"principal_stress_nodal": (n, 3), "max_principal_nodal": (n,)}``, the three
    eigenvalues in decreasing order (:func:`rom.fem.kernels.principal_stresses`) and
    the largest; written beside ``sigma_nodal`` and ``von_mises_nodal`` (ParaView shows
    the vector's components 0, 1, 2 as sigma_1, sigma_2, sigma_3). Pointwise: each
    rank computes those of its nodes."""
    s = principal_stresses(sigma_nodal)
    return {"principal_stress_nodal": s, "max_principal_nodal": np.ascontiguousarray(s[:, 0])}


class BlockLayout:
    """Collective construction. Moves values held at scattered global ids (each id on
    exactly one rank) to contiguous blocks ``[lo, hi)`` of the global numbering, one
    block per rank, and back.

    Parameters
    ----------
    comm : communicator
    ids : (n,) global ids held by this rank
    n_global : int
    """

    def __init__(self, comm, ids, n_global):
        self.comm = comm
        self.n_global = n_global
        size, rank = comm.size, comm.rank
        self.bounds = np.array([n_global * r // size for r in range(size + 1)])
        self.lo, self.hi = int(self.bounds[rank]), int(self.bounds[rank + 1])
        ids = np.asarray(ids, dtype=np.int64)
        dest = np.searchsorted(self.bounds, ids, side="right") - 1
        self.order = np.argsort(dest, kind="stable")
        self.send_counts = np.bincount(dest, minlength=size)
        self.recv_counts = np.array(comm.alltoall(self.send_counts.tolist()))
        recv = np.empty(self.recv_counts.sum(), dtype=np.int64)
        comm.Alltoallv([ids[self.order], self.send_counts], [recv, self.recv_counts])
        self.position = recv - self.lo
        if not np.array_equal(np.sort(self.position), np.arange(self.hi - self.lo)):
            raise RuntimeError("BlockLayout: ids are not a partition of the global numbering")
        # one rank holding the ids in order: nothing moves (no copies)
        self.identity = bool(comm.allreduce(
            int(np.array_equal(ids, np.arange(self.lo, self.hi))), op=mpi_op("MIN")))

    def to_blocks(self, values):
        """Collective. ``values (n, ...)`` at this rank's ids -> its block ``(hi - lo, ...)``."""
        values = np.asarray(values, dtype=float)
        if self.identity:
            return values
        tail = values.shape[1:]
        k = int(np.prod(tail)) if tail else 1
        flat = np.ascontiguousarray(values.reshape(len(values), k)[self.order])
        recv = np.empty((self.recv_counts.sum(), k))
        self.comm.Alltoallv([flat, self.send_counts * k], [recv, self.recv_counts * k])
        block = np.empty((self.hi - self.lo, k))
        block[self.position] = recv
        return block.reshape((self.hi - self.lo,) + tail)

    def from_blocks(self, block):
        """Collective. Inverse of :meth:`to_blocks`."""
        block = np.asarray(block, dtype=float)
        if self.identity:
            return block
        tail = block.shape[1:]
        k = int(np.prod(tail)) if tail else 1
        send = np.ascontiguousarray(block.reshape(len(block), k)[self.position])
        back = np.empty((self.send_counts.sum(), k))
        self.comm.Alltoallv([send, self.recv_counts * k], [back, self.send_counts * k])
        out = np.empty_like(back)
        out[self.order] = back
        return out.reshape((len(out),) + tail)


def _open_error(path, exc):
    return RomError(f"cannot open snapshot file {path}: {exc} (truncated, still open "
                    "elsewhere, or not an HDF5 file)")


class SnapshotStore:
    """Collective. Writes (and resumes) the snapshot file of a run.

    Use :meth:`create` for a new file and :meth:`open_resume` to continue one.
    """

    def __init__(self, path, model, comm):
        import h5py

        self.path = path
        self.xdmf_path = os.path.splitext(path)[0] + ".xdmf"
        self.model = model
        self.mesh = model.mesh
        self.comm = comm
        self.parallel = comm.size > 1 and h5py.get_config().mpi
        mesh = self.mesh
        self.n_qp = comm.allreduce(model.n_qp)
        self.qp_ids = model.qp_ids
        self.nodes = BlockLayout(comm, mesh.node_ids[: mesh.n_owned], mesh.n_nodes_global)
        self.cells = BlockLayout(comm, mesh.cell_ids, mesh.n_cells_global)
        self.qps = BlockLayout(comm, self.qp_ids, self.n_qp)
        self.file = None
        self.times = []
        self._xdmf_steps = []  # (time, attributes) of the complete steps, rank 0

    # --- low-level collective I/O -------------------------------------------------------
    def _open(self, mode):
        import h5py

        try:
            if self.parallel:
                self.file = h5py.File(self.path, mode, driver="mpio", comm=self.comm)
            elif self.comm.rank == 0:
                self.file = h5py.File(self.path, mode)
            err = None
        except OSError as exc:
            err = str(exc)
        errors = [e for e in self.comm.allgather(err) if e]
        if errors:
            raise _open_error(self.path, errors[0])

    def _write_blocks(self, name, layout, block):
        """Collective. Dataset ``name`` of shape ``(layout.n_global, ...)`` from blocks."""
        shape = (layout.n_global,) + block.shape[1:]
        if self.parallel:
            d = self.file.create_dataset(name, shape=shape, dtype="f8")
            with d.collective:
                d[layout.lo: layout.hi] = block
        else:
            parts = self.comm.gather(block, root=0)
            if self.comm.rank == 0:
                self.file.create_dataset(name, data=np.concatenate(parts).reshape(shape))

    def _write_root(self, name, data_on_root, shape, dtype):
        """Collective. Dataset whose data only rank 0 holds."""
        if self.parallel:
            d = self.file.create_dataset(name, shape=shape, dtype=dtype)
            if self.comm.rank == 0:
                d[...] = data_on_root
        elif self.comm.rank == 0:
            self.file.create_dataset(name, data=data_on_root)

    def _read_blocks(self, name, layout):
        """Collective. This rank's values (at its ids) of dataset ``name``. A dataset
        that is missing or cannot be read (a damaged file) raises :class:`RomError`."""
        try:
            if self.parallel:
                block = self.file[name][layout.lo: layout.hi]
            else:
                full = self.file[name][...] if self.comm.rank == 0 else None
        except (KeyError, OSError) as exc:
            raise RomError(f"cannot read {name} of snapshot file {self.path}: {exc} "
                           "(damaged file)") from None
        if self.parallel:
            return layout.from_blocks(block)
        full = self.comm.bcast(full, root=0)
        return layout.from_blocks(full[layout.lo: layout.hi])

    def _set_attrs(self, **attrs):
        if self.file is not None:
            for k, v in attrs.items():
                self.file.attrs[k] = v

    # --- creation and resume ------------------------------------------------------------
    @classmethod
    def create(cls, path, model, comm, case_text="", case_name="", law="", loading=""):
        """Collective. A new snapshot file (overwrites) with mesh and quadrature."""
        store = cls(path, model, comm)
        if comm.rank == 0:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        comm.Barrier()
        store._open("w")
        store._set_attrs(format=FORMAT, format_version=FORMAT_VERSION, code_version=__version__,
                         case_text=case_text, case_name=case_name, law=law, loading=loading,
                         completed_steps=0)
        mesh = store.mesh
        data = mesh.data
        store._write_root("mesh/points", data.points if data else None,
                          (mesh.n_nodes_global, 3), "f8")
        cells = comm.bcast({k: v.shape for k, v in cell_datasets(data.block_cells).items()}
                           if data else None, root=0)
        sets = cell_datasets(data.block_cells) if data else {}
        for path, shape in cells.items():
            store._write_root(path.lstrip("/"), sets.get(path), shape, "i8")
        store._write_blocks("quadrature/weights", store.qps,
                            store.qps.to_blocks(model.quadrature_weights()))
        store._write_blocks("quadrature/points", store.qps,
                            store.qps.to_blocks(model.quadrature_points()))
        store._write_blocks("quadrature/cell", store.qps, store.qps.to_blocks(
            mesh.cell_ids[model.qp_cells].astype(float)))
        if store.file is not None:
            store.file.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8")
            store.file.flush()
        return store

    @classmethod
    def open_resume(cls, path, model, comm, case_text, loading=""):
        """Collective. Reopen ``path`` to continue; returns ``(store, k, state)`` with
        ``k`` the number of complete steps and ``state`` the local displacement
        ``u`` and quadrature fields of step ``k - 1`` (None when ``k == 0``)."""
        if not os.path.isfile(path):
            raise RomError(f"cannot resume: snapshot file {path} does not exist")
        store = cls(path, model, comm)
        store._open("r+")
        info = None
        if comm.rank == 0:
            f = store.file
            info = {"format": f.attrs.get("format"), "version": f.attrs.get("format_version"),
                    "case_text": f.attrs.get("case_text"),
                    "loading": f.attrs.get("loading", ""),
                    "completed": int(f.attrs.get("completed_steps", -1)),
                    "n_nodes": f["mesh/points"].shape[0] if "mesh/points" in f else -1,
                    "times": f["time"][...].tolist() if "time" in f else []}
        info = comm.bcast(info, root=0)
        problem = _check_header(info, path, store.mesh.n_nodes_global)
        if problem is None and info["case_text"] != case_text:
            problem = f"{path} was written by a different case file; remove it or drop --resume"
        if problem is None and (info["loading"] or "") != (loading or ""):
            problem = (f"{path} holds the loading '{info['loading'] or '[temperature]'}', "
                       f"not '{loading or '[temperature]'}'; resume it with its own loading")
        if problem:
            store.close()
            raise RomError(problem)
        k = info["completed"]
        store.times = info["times"][:k]
        # drop a partial step (collective metadata operations)
        if store.file is not None:
            for name in list(store.file.get("steps", {}).keys()):
                if int(name) >= k:
                    del store.file[f"steps/{name}"]
            store.file["time"].resize((k,))
            store.file.flush()
        state = None
        if k > 0:
            mesh = store.mesh
            u_owned = store._read_blocks(f"steps/{k - 1}/U", store.nodes)
            qp = {}
            names = comm.bcast(list(store.file[f"steps/{k - 1}/qp"].keys())
                               if store.file is not None else None, root=0)
            for name in names:
                qp[name] = store._read_blocks(f"steps/{k - 1}/qp/{name}", store.qps)
            state = {"u_owned": u_owned.reshape(mesh.n_owned, 3), "qp": qp}
        store._write_xdmf()
        return store, k, state

    @classmethod
    def open_read(cls, path, model, comm):
        """Collective. Open a complete or partial snapshot file of ``model``'s mesh for
        reading (:meth:`read_nodal`, :meth:`read_qp`)."""
        if not os.path.isfile(path):
            raise RomError(f"snapshot file not found: {path}")
        store = cls(path, model, comm)
        store._open("r")
        info = None
        if comm.rank == 0:
            f = store.file
            info = {"format": f.attrs.get("format"), "version": f.attrs.get("format_version"),
                    "completed": int(f.attrs.get("completed_steps", -1)),
                    "n_nodes": f["mesh/points"].shape[0] if "mesh/points" in f else -1,
                    "n_qp": f["quadrature/weights"].shape[0] if "quadrature/weights" in f
                    else -1,
                    "times": f["time"][...].tolist() if "time" in f else [],
                    "case_text": f.attrs.get("case_text", ""),
                    "qp_names": sorted(f["steps/0/qp"].keys()) if "steps/0/qp" in f else []}
        info = comm.bcast(info, root=0)
        problem = _check_header(info, path, store.mesh.n_nodes_global)
        if problem is None and info["n_qp"] != store.n_qp:
            problem = (f"{path} has {info['n_qp']} quadrature points, the case's mesh and "
                       f"law give {store.n_qp}")
        if problem:
            store.close()
            raise RomError(problem)
        store.times = info["times"][: info["completed"]]
        store.case_text = info["case_text"]
        store.qp_names = info["qp_names"]
        return store

    def mesh_signature(self):
        """Rank 0 (of a file opened by :meth:`open_read`). :func:`rom.archive.mesh_signature`
        of the file's mesh; None when it has no cells of the model's type."""
        from rom.archive import mesh_signature

        paths = [f"mesh/cells/{t}" for t, _, _ in self.mesh.global_blocks]
        if any(p not in self.file for p in paths):
            return None
        return mesh_signature(self.file["mesh/points"][...],
                              [(t, self.file[p][...]) for (t, _, _), p in
                               zip(self.mesh.global_blocks, paths)])

    def read_nodal(self, name, k):
        """Collective. Values of nodal field ``name`` of step ``k`` at the owned nodes."""
        return self._read_blocks(f"steps/{k}/{name}", self.nodes)

    def read_qp(self, name, k):
        """Collective. Values of quadrature field ``name`` of step ``k`` at the local points
        (``(n_qp_local[, c])``, the model's point order)."""
        return self._read_blocks(f"steps/{k}/qp/{name}", self.qps)

    # --- steps --------------------------------------------------------------------------
    def write_step(self, t, u_owned, T_owned, qp_fields, cell_fields, node_fields=None):
        """Collective. Append step ``len(times)``: ``u_owned (n_owned_nodes, 3)``,
        ``T_owned (n_owned_nodes,)``, ``qp_fields`` name -> ``(n_qp_local[, c])``,
        ``cell_fields`` name -> ``(n_local_cells[, c])``, ``node_fields`` name ->
        ``(n_owned_nodes[, c])`` (6 components: Mandel, written as XDMF Tensor6); of a
        ``sigma_nodal``, the principal stresses are added (:func:`principal_node_fields`)."""
        k = len(self.times)
        base = f"steps/{k}"
        if node_fields and "sigma_nodal" in node_fields:
            node_fields = {**node_fields, **principal_node_fields(node_fields["sigma_nodal"])}
        self._write_blocks(f"{base}/U", self.nodes, self.nodes.to_blocks(u_owned))
        self._write_blocks(f"{base}/T", self.nodes, self.nodes.to_blocks(T_owned))
        for name, v in (node_fields or {}).items():
            v = np.asarray(v)
            if v.ndim == 2 and v.shape[1] == 6:
                v = mandel_to_tensor6(v)
            self._write_blocks(f"{base}/nodes/{name}", self.nodes, self.nodes.to_blocks(v))
        for name, v in qp_fields.items():
            self._write_blocks(f"{base}/qp/{name}", self.qps, self.qps.to_blocks(v))
        for name, v in cell_fields.items():
            v = np.asarray(v)
            if v.ndim == 2 and v.shape[1] == 6:
                v = mandel_to_tensor6(v)
            self._write_blocks(f"{base}/cells/{name}", self.cells, self.cells.to_blocks(v))
        self.cell_field_shapes = {n: np.asarray(v).shape[1:] for n, v in cell_fields.items()}
        if self.file is not None:
            self.file["time"].resize((k + 1,))
            if self.comm.rank == 0 or not self.parallel:
                self.file["time"][k] = t
            self.file.attrs["completed_steps"] = k + 1
            self.file.flush()
        self.times.append(float(t))
        self._write_xdmf()

    def write_reactions(self, names, values):
        """Collective. The reaction forces ``values (n_sets, 3)`` (the same on every
        rank) of the Dirichlet sets ``names`` at the step about to be written: call it
        before :meth:`write_step`, which completes the step (a killed run drops both)."""
        name = f"steps/{len(self.times)}/reactions"
        self._write_root(name, np.asarray(values, dtype=float).reshape(len(names), 3),
                         (len(names), 3), "f8")
        if self.file is not None:  # fixed-length strings: a variable-length attribute
            # goes to the global heap, which a parallel file's ranks may hold differently
            # (rank 0 alone reads case_text on resume): HDF5 then hangs
            self.file[name].attrs["sets"] = np.array([str(n).encode() for n in names])

    def _step_attributes(self, k):
        """XDMF attributes ``(name, center, shape, path)`` of step ``k`` (read from the
        file, rank 0)."""
        g = self.file[f"steps/{k}"]
        attrs = [("U", "Node", g["U"].shape, f"/steps/{k}/U"),
                 ("T", "Node", g["T"].shape, f"/steps/{k}/T")]
        for name in g.get("nodes", {}):
            attrs.append((name, "Node", g["nodes"][name].shape, f"/steps/{k}/nodes/{name}"))
        for name in g.get("cells", {}):
            attrs.append((name, "Cell", g["cells"][name].shape, f"/steps/{k}/cells/{name}"))
        return attrs

    def record_time(self, seconds, n_steps):
        """Collective. Add the wall time of ``n_steps`` steps to the file's
        ``steps_time`` and ``timed_steps`` attributes."""
        if self.file is not None:
            a = self.file.attrs
            a["steps_time"] = float(a.get("steps_time", 0.0)) + seconds
            a["timed_steps"] = int(a.get("timed_steps", 0)) + n_steps
            self.file.flush()

    def _write_xdmf(self):
        """Rewrite the XDMF index (rank 0); step attributes are cached, so the cost per
        step does not grow with the number of steps read back from the file."""
        if self.comm.rank != 0:
            return
        for k in range(len(self._xdmf_steps), len(self.times)):
            self._xdmf_steps.append((self.times[k], self._step_attributes(k)))
        mesh = self.mesh
        write_xdmf(self.xdmf_path, self.path,
                   topology([(t, stop - start) for t, start, stop in mesh.global_blocks]),
                   mesh.n_nodes_global, self._xdmf_steps)

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None


class SeriesWriter:
    """Serial writer of the same layout from global arrays (e.g. the reconstructed
    fields of an online run), with its XDMF index. Call on one rank. The steps go to
    ``<path>.part``, which :meth:`close` moves to ``path`` (then writes the XDMF
    index): a run that fails leaves an existing result at ``path`` untouched.

    Parameters
    ----------
    path : str
    data : rom.mesh.MeshData (points and cells written)
    qp_weights : (n_qp,) quadrature weights
    attrs : dict of extra file attributes
    """

    def __init__(self, path, data, qp_weights, attrs=None):
        import h5py

        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.xdmf_path = os.path.splitext(path)[0] + ".xdmf"
        self.data = data
        self.part = path + ".part"
        self.file = h5py.File(self.part, "w")
        f = self.file
        f.attrs.update({"format": FORMAT, "format_version": FORMAT_VERSION,
                        "code_version": __version__, "completed_steps": 0, **(attrs or {})})
        f["mesh/points"] = data.points
        for path, v in cell_datasets(data.block_cells).items():
            f[path] = v
        f["quadrature/weights"] = qp_weights
        f.create_dataset("time", shape=(0,), maxshape=(None,), dtype="f8")
        self.steps = []

    def write_step(self, t, nodal, qp=None, cells=None, attrs=None):
        """Append a step: ``nodal`` name -> ``(n_nodes[, c])`` (U and T, then the other
        nodal fields under ``nodes/``), ``qp`` name -> ``(n_qp[, c])``, ``cells`` name ->
        ``(n_cells[, c])`` (6 components: Mandel); ``attrs``: attributes of the step's
        group ``steps/<k>``."""
        f, k = self.file, len(self.steps)
        f.require_group(f"steps/{k}").attrs.update(attrs or {})
        described = []  # the XDMF attributes of the step
        for name, v in nodal.items():
            path = f"steps/{k}/{name}" if name in ("U", "T") else f"steps/{k}/nodes/{name}"
            f[path] = v
            described.append((name, "Node", np.shape(v), "/" + path))
        for name, v in (qp or {}).items():
            f[f"steps/{k}/qp/{name}"] = v
        for name, v in (cells or {}).items():
            v = np.asarray(v)
            v = mandel_to_tensor6(v) if v.ndim == 2 and v.shape[1] == 6 else v
            f[f"steps/{k}/cells/{name}"] = v
            described.append((name, "Cell", v.shape, f"/steps/{k}/cells/{name}"))
        f["time"].resize((k + 1,))
        f["time"][k] = t
        f.attrs["completed_steps"] = k + 1
        f.flush()
        self.steps.append((float(t), described))

    def close(self):
        """Complete the file: move it into place and write its XDMF index."""
        self.file.close()
        os.replace(self.part, self.path)
        write_xdmf(self.xdmf_path, self.path,
                   topology([(t, len(c)) for t, c in self.data.block_cells]),
                   self.data.n_nodes, self.steps)


def _check_header(info, path, n_nodes):
    if info["format"] != FORMAT:
        return f"{path} is not a rom snapshot file (format attribute {info['format']!r})"
    if info["version"] is None or int(info["version"]) > FORMAT_VERSION:
        return (f"{path} has snapshot format version {info['version']}, this code reads "
                f"up to {FORMAT_VERSION}")
    if info["completed"] < 0:
        return f"{path}: missing 'completed_steps' attribute (file damaged)"
    if info["n_nodes"] != n_nodes:
        return f"{path} holds a mesh of {info['n_nodes']} nodes, the case's has {n_nodes}"
    return None


def read_snapshots(path, fields=("U",), qp_fields=()):
    """Serial reader: ``{"time": (n_steps,), "U": (n_steps, n_nodes, 3), ...,
    "qp/<name>": (n_steps, n_qp, ...), "weights": (n_qp,)}`` of complete steps."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _open_error(path, exc) from None
    with f:
        info = {"format": f.attrs.get("format"), "version": f.attrs.get("format_version"),
                "completed": int(f.attrs.get("completed_steps", -1)),
                "n_nodes": f["mesh/points"].shape[0] if "mesh/points" in f else -1}
        problem = _check_header(info, path, info["n_nodes"])
        if problem:
            raise RomError(problem)
        k = info["completed"]
        out = {"time": f["time"][:k], "weights": f["quadrature/weights"][...],
               "points": f["mesh/points"][...], "case_text": f.attrs["case_text"]}
        for name in fields:
            out[name] = np.stack([f[f"steps/{i}/{name}"][...] for i in range(k)])
        for name in qp_fields:
            out[f"qp/{name}"] = np.stack([f[f"steps/{i}/qp/{name}"][...] for i in range(k)])
        return out


def prepare_output(path, comm, resume=False, overwrite=False, expect=None):
    """Collective. Make the folder of ``path`` and check that it can be written; an
    existing ``path`` is refused unless ``resume`` (continue it) or ``overwrite``
    (replace it): a run never truncates another run's result by default. With
    ``expect`` (a ``format`` attribute, e.g. ``"rom-archive"``), an existing file is
    replaced only if it is an HDF5 file of that format (never, say, a snapshot file
    given as the output of another command)."""
    problem = None
    if comm.rank == 0:
        folder = os.path.dirname(os.path.abspath(path))
        try:
            if os.path.exists(folder) and not os.path.isdir(folder):
                raise NotADirectoryError(f"{folder} is a file, not a folder")
            os.makedirs(folder, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"no write permission on {folder}")
            if os.path.isdir(path):
                raise IsADirectoryError(f"{path} is a directory")
        except OSError as exc:
            problem = f"cannot write the output {path}: {exc}"
        if problem is None and os.path.exists(path) and not (resume or overwrite):
            problem = (f"{path} already exists (the result of another run); give "
                       "--overwrite to replace it or --resume to continue it")
        if problem is None and os.path.exists(path) and expect is not None:
            fmt = _format_of(path)
            if fmt != expect:
                problem = (f"{path} exists and is not a {expect} file (format {fmt!r}); "
                           "refusing to replace it")
    problem = comm.bcast(problem, root=0)
    if problem:
        raise RomError(problem)


def _format_of(path):
    """The ``format`` attribute of an HDF5 file (None if it is not one)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            v = f.attrs.get("format")
    except OSError:
        return None
    return v.decode() if isinstance(v, bytes) else v
