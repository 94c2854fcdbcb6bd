"""Training runs as the offline stage reads them: one interface for this project's HF
runs and for other solvers' results, imported and replayed (DESIGN section 8).

A training entry is either the path of a snapshot file (an HF run of this project,
or a run already imported with ``run.py import``) or an :class:`ImportedRun`: another
solver's result file and the case loading it was run with. :func:`snapshot_file`
turns an entry into a snapshot file, replaying an imported run through the case's law
unless a replay of the same files (the result file and its data files, same sizes
and modification times) with the same case text is already there;
:meth:`SnapshotSource.open` opens one for reading.
"""

import os
from dataclasses import dataclass

import numpy as np

from rom import RomError, agree

__all__ = ["ImportedRun", "SnapshotSource", "snapshot_file", "imported_runs",
           "bcast_results"]


@dataclass(frozen=True)
class ImportedRun:
    """Another solver's run of the case's loading ``loading``: its result ``path``
    (absolute) in ``format`` (None: from the extension, :func:`rom.io.result_format`)."""

    loading: str
    path: str
    format: str = None

    def files(self):
        """The files the run is read from: the result file (or the files a glob
        pattern matches) and its data files beside it (those of the same stem: an
        XDMF's HDF5, a Z-set ``.ut``'s ``.node``) and, for a PVD collection, the
        ``.vtu`` files of its folder."""
        import glob

        paths = sorted(glob.glob(self.path)) if glob.has_magic(self.path) else [self.path]
        out = set()
        for p in paths:
            stem, ext = os.path.splitext(p)
            out.add(p)
            out.update(glob.glob(glob.escape(stem) + ".*"))
            if ext.lower() == ".pvd":
                out.update(glob.glob(os.path.join(glob.escape(os.path.dirname(p)), "*.vtu")))
        return sorted(f for f in out if os.path.isfile(f))

    def stamp(self):
        """``"<name>:<size>:<mtime ns>;..."`` of :meth:`files` (what makes a replay
        stale)."""
        files = self.files()
        if not files:
            raise RomError(f"result file not found: {self.path} (the run of loading "
                           f"'{self.loading}')")
        return ";".join(f"{os.path.basename(f)}:{os.stat(f).st_size}:"
                        f"{os.stat(f).st_mtime_ns}" for f in files)


def imported_runs(case):
    """``{loading: ImportedRun}`` of the case's ``[rom] results`` and training entries
    that name result files."""
    return {name: ImportedRun(name, path, fmt) for name, path, fmt in case.rom.results}


def _replay_up_to_date(path, case, run, stamp):
    """Rank 0. ``path`` holds a complete replay of ``run`` (its files as ``stamp``
    says) with ``case``'s text."""
    import h5py

    if not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            return (a.get("case_text") == case.text and a.get("loading", "") == run.loading
                    and a.get("source") == run.path and a.get("source_stamp") == stamp
                    and int(a.get("completed_steps", -1)) == int(a.get("source_steps", -2)))
    except OSError:
        return False


def bcast_results(results, comm):
    """Collective. :class:`rom.io.results.NodalResults` held by rank 0 (None elsewhere)
    on every rank: the small arrays pickled, the displacements (and temperatures)
    step by step as buffers (no pickle of the whole history: mpi4py's 2 GiB limit)."""
    from rom.io.results import NodalResults

    head = None
    if comm.rank == 0:
        head = (results.source, results.node_ids, results.points, results.times,
                results.temperature is not None)
    source, ids, points, times, has_t = comm.bcast(head, root=0)
    shape = (len(times), len(ids))
    u = results.displacement if comm.rank == 0 else np.empty(shape + (3,))
    T = (results.temperature if comm.rank == 0 else np.empty(shape)) if has_t else None
    for k in range(len(times)):
        for a in (u, T) if has_t else (u,):
            buf = np.ascontiguousarray(a[k], dtype=float)
            comm.Bcast(buf, root=0)
            a[k] = buf
    return NodalResults(source, ids, points, times, u, T)


def snapshot_file(entry, case, comm, folder, log=None):
    """Collective. The snapshot file of training ``entry``: a path is returned as it
    is; an :class:`ImportedRun` is read (rank 0, then broadcast) and replayed through
    ``case``'s law with its loading into ``<folder>/import_<loading>/snapshots.h5``,
    unless that file is an up-to-date replay (then reused). ``log`` (rank 0) gets
    a line saying which, with the replay's largest equilibrium residual."""
    if not isinstance(entry, ImportedRun):
        return entry
    from rom.io import read_results
    from rom.replay import replay

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    path = os.path.join(folder, f"import_{entry.loading}", "snapshots.h5")
    stamp = agree(comm, lambda: entry.stamp() if comm.rank == 0 else None)
    stamp = comm.bcast(stamp, root=0)
    if comm.bcast(_replay_up_to_date(path, case, entry, stamp) if comm.rank == 0 else None,
                  root=0):
        say(f"  {entry.path}: replay up to date ({path})")
        return path
    results = agree(comm, lambda: read_results(entry.path, entry.format)
                    if comm.rank == 0 else None)
    results = bcast_results(results, comm)
    out = replay(case.with_loading(entry.loading), results, comm, os.path.dirname(path),
                 log=None, overwrite=True, source=(entry.path, stamp))
    r = out["residuals"]
    say(f"  {entry.path}: {len(out['times'])} step(s) replayed through {case.law} into "
        f"{path}, equilibrium residual max {max(r):.2e} (step {r.index(max(r)) + 1})")
    return path


class SnapshotSource:
    """Collective. A training run opened for reading: its ``times`` (complete steps),
    ``qp_names`` (quadrature fields), ``case_text`` (the case that wrote it),
    ``signature`` (:func:`rom.archive.mesh_signature` of its mesh), and the values
    of a step at this rank's nodes (:meth:`read_nodal`) and quadrature points
    (:meth:`read_qp`)."""

    def __init__(self, store, signature):
        self.store = store
        self.path = store.path
        self.times = store.times
        self.qp_names = store.qp_names
        self.case_text = store.case_text
        self.signature = signature

    @classmethod
    def open(cls, path, model, comm):
        """Collective. Open snapshot file ``path`` computed on ``model``'s mesh."""
        from rom.snapshots import SnapshotStore

        store = SnapshotStore.open_read(path, model, comm)
        # no try/finally: closing a parallel HDF5 file is collective, and an error on
        # one rank must reach MPI_Abort without a collective call (run.py)
        return cls(store, comm.bcast(store.mesh_signature() if comm.rank == 0 else None,
                                     root=0))

    def read_nodal(self, name, k):
        """Collective. Nodal field ``name`` of step ``k`` at the owned nodes."""
        return self.store.read_nodal(name, k)

    def read_qp(self, name, k):
        """Collective. Quadrature field ``name`` of step ``k`` at the local points."""
        return self.store.read_qp(name, k)

    def close(self):
        """Collective."""
        self.store.close()
