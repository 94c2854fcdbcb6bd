"""Training runs as the offline stage reads them: one interface for this project's HF
runs and for other solvers' results, imported and replayed (DESIGN section 8).

A training entry is either the path of a snapshot file (an HF run of this project,
or a run already imported with ``run.py import``) or an :class:`ImportedRun`: another
solver's result file and the case loading it was run with. :func:`snapshot_file`
turns an entry into a snapshot file, replaying an imported run through the case's law
unless a replay of the same file (same size and modification time) with the same
case text is already there; :meth:`SnapshotSource.open` opens one for reading.
"""

import os
from dataclasses import dataclass

from rom import RomError, agree

__all__ = ["ImportedRun", "SnapshotSource", "snapshot_file", "imported_runs"]


@dataclass(frozen=True)
class ImportedRun:
    """Another solver's run of the case's loading ``loading``: its result ``path``
    (absolute) in ``format`` (None: from the extension, :func:`rom.io.result_format`)."""

    loading: str
    path: str
    format: str = None

    def stamp(self):
        """``"<size>:<mtime ns>"`` of the result file (what makes a replay stale)."""
        try:
            st = os.stat(self.path)
        except OSError:
            raise RomError(f"result file not found: {self.path} (the run of loading "
                           f"'{self.loading}')") from None
        return f"{st.st_size}:{st.st_mtime_ns}"


def imported_runs(case):
    """``{loading: ImportedRun}`` of the case's ``[rom] results`` and training entries
    that name result files."""
    return {name: ImportedRun(name, path, fmt) for name, path, fmt in case.rom.results}


def _replay_up_to_date(path, case, run):
    """Rank 0. ``path`` holds a complete replay of ``run`` with ``case``'s text."""
    import h5py

    if not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            a = f.attrs
            return (a.get("case_text") == case.text and a.get("loading", "") == run.loading
                    and a.get("source") == run.path and a.get("source_stamp") == run.stamp()
                    and int(a.get("completed_steps", -1)) == int(a.get("source_steps", -2)))
    except OSError:
        return False


def snapshot_file(entry, case, comm, folder, log=None):
    """Collective. The snapshot file of training ``entry``: a path is returned as it
    is; an :class:`ImportedRun` is read (rank 0, then broadcast) and replayed through
    ``case``'s law with its loading into ``<folder>/import_<loading>/snapshots.h5``,
    unless that file is an up-to-date replay (then reused). ``log`` (rank 0) gets
    one line per step of a replay."""
    if not isinstance(entry, ImportedRun):
        return entry
    from rom.io import read_results
    from rom.replay import replay

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    path = os.path.join(folder, f"import_{entry.loading}", "snapshots.h5")
    stamp = agree(comm, entry.stamp)
    if comm.bcast(_replay_up_to_date(path, case, entry) if comm.rank == 0 else None, root=0):
        say(f"  {entry.path}: replay up to date ({path})")
        return path
    results = agree(comm, lambda: read_results(entry.path, entry.format)
                    if comm.rank == 0 else None)
    results = comm.bcast(results, root=0)
    out = replay(case.with_loading(entry.loading), results, comm, os.path.dirname(path),
                 log=log, overwrite=True, source=(entry.path, stamp))
    r = out["residuals"]
    say(f"  {entry.path}: {len(out['times'])} step(s) replayed through {case.law}, "
        f"equilibrium residual max {max(r):.2e}")
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
