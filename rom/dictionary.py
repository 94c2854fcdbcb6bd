"""A dictionary of local ROMs (DESIGN section 7): the training runs partitioned by
clustering, one ROM per cluster in one archive, and the member chosen per loading.

Offline (:func:`build_dictionary`, ``[rom] clusters = k`` or ``"auto"``):

1. every training run is a trajectory of the loading it was run with (its snapshot
   file's ``loading``); the dissimilarity between two runs is, with ``[rom]
   cluster_by``:

   * ``"temperature"`` (default): the sine dissimilarity (:mod:`rom.cluster`) of their
     loadings' *temperature signatures*, ``T(x, t_k) - T_ref`` at every node and at
     the case's times (at most :data:`SIGNATURE_TIMES` of them, evenly picked),
     in the product of the lumped nodal volumes repeated over the times: cheap (no
     snapshot is read), and what the online selection can compute for a new loading;
   * ``"trajectory"``: the sine of the largest principal angle between the runs'
     displacement subspaces (:func:`rom.cluster.subspace_dissimilarity`, the case's
     POD product, ``eps_u``);

2. ``k`` clusters by k-medoids (:func:`rom.cluster.kmedoids`); with ``"auto"`` the a
   priori criterion (:func:`rom.cluster.local_bases_criterion`: each cluster's POD
   dimension at ``eps_u`` on the displacement snapshots, the expected online cost,
   ``k = 1 .. k_max``) recommends ``k``; ``k = 1`` builds the global ROM, an archive
   identical to one without ``clusters``;
3. one ROM per cluster from its runs (:func:`rom.offline.build_one`: its own POD,
   reduced quadrature and Gappy bases), written as the members of one archive
   (:func:`rom.archive.write_archive`), with ``/clusters``: the runs' files, loadings
   and labels, the medoids, the dissimilarity matrix, the criterion's numbers, and
   the medoids' temperature signatures with the nodal weights and times that select a
   member online.

Online (:func:`select_member`): the new loading's temperature signature and the
nearest medoid's member (whatever ``cluster_by``: the selection must not need the
solution it selects the ROM for), the distance combining the sine dissimilarity (the
shapes) with the relative difference of the signatures' norms (the levels, which the
sine does not see: a cold and a hot loading of one shape clustered apart by their
trajectories are told apart by it).
"""

import json
import os

import numpy as np

from rom import RomError

__all__ = ["SIGNATURE_TIMES", "node_weights", "temperature_signatures", "build_dictionary",
           "select_member"]

SIGNATURE_TIMES = 16  # at most this many of the case's times in a signature


def node_weights(data, chunk=16384):
    """Lumped nodal volumes ``(n_nodes,)`` of :class:`rom.mesh.MeshData` ``data``: each
    cell's volume shared equally by its nodes."""
    from rom.fem import CellBasis

    w = np.zeros(data.n_nodes)
    for b, s in data.chunks(chunk):
        cells = data.conn(s)
        vol = CellBasis(b.element, data.points[cells]).dx.sum(axis=1)
        np.add.at(w, cells, np.repeat(vol[:, None] / cells.shape[1], cells.shape[1], axis=1))
    return w


def signature_times(case):
    """The times of the temperature signatures: the case's, at most
    :data:`SIGNATURE_TIMES` of them (evenly picked, the last one kept)."""
    times = np.asarray(case.times, dtype=float)
    if len(times) > SIGNATURE_TIMES:
        times = times[np.unique(np.linspace(0, len(times) - 1, SIGNATURE_TIMES).round()
                                .astype(int))]
    return times


def temperature_signatures(case, loadings, data, times):
    """Serial. ``(n_nodes * len(times), len(loadings))``: for each named loading (None:
    the case's ``[temperature]``), ``T(x, t) - T_ref`` at every node of ``data`` and at
    ``times`` (the load tables' time of each), stacked time after time."""
    from rom.loads import NodeSubset, TemperatureLoading
    from rom.materials import make_law

    T_ref = getattr(make_law(case.law, case.material_params()), "T_ref", 20.0)
    nodes = NodeSubset.of_mesh(data)
    out = np.empty((data.n_nodes * len(times), len(loadings)))
    for j, name in enumerate(loadings):
        c = case.with_loading(name)
        temp = TemperatureLoading(c.temperature, nodes, T_ref)
        out[:, j] = np.concatenate([temp.nodal(c.load_time(t)) - T_ref for t in times])
    return out


def _loading_of(path):
    """Rank 0. The named loading a snapshot file was computed with ('' if none)."""
    import h5py

    with h5py.File(path, "r") as f:
        v = f.attrs.get("loading", "")
    return v.decode() if isinstance(v, bytes) else str(v)


def _trajectories(case, files, comm):
    """Collective. The owned rows of each run's displacement snapshots ``(n_dofs_local,
    n_steps)``, and the case's POD product (:func:`rom.offline._product`)."""
    from rom.offline import RomBuilder, _product
    from rom.sources import SnapshotSource

    rb = RomBuilder(case, comm)
    trajs = []
    for path in files:
        store = SnapshotSource.open(path, rb.model, comm)
        trajs.append(np.column_stack([np.ravel(store.read_nodal("U", k))
                                      for k in range(len(store.times))])
                     if store.times else np.zeros((len(rb.owned_rows), 0)))
        store.close()
    return trajs, _product(case, rb.model, comm), rb


def build_dictionary(case, files, comm, out_path, log=print, block_bytes=None, work=0.1):
    """Collective. The dictionary of local ROMs of ``case`` (module docstring) from the
    snapshot files ``files`` of its training runs, written to ``out_path`` (rank 0).
    Returns the summary of :func:`rom.offline.build_rom` (of the whole dictionary:
    ``members``, ``labels``, ``n_modes`` per member...), on every rank."""
    from rom import agree
    from rom.archive import write_archive
    from rom.cluster import kmedoids, local_bases_criterion, sine_dissimilarity
    from rom.io.meshfile import read_mesh_file
    from rom.offline import build_one
    from rom.parallel import SerialComm

    say = log if comm.rank == 0 and log else (lambda *a, **k: None)
    rom = case.rom
    loadings = comm.bcast([_loading_of(p) for p in files] if comm.rank == 0 else None,
                          root=0)
    unnamed = [p for p, n in zip(files, loadings) if not n or n not in case.loadings]
    if unnamed:
        raise RomError(f"offline: local ROMs select a member by the loading's temperature: "
                       f"{unnamed[0]} was not run with a named loading of the case")
    n = len(files)
    times = signature_times(case)
    # 1. the temperature signatures (rank 0: every node), the dissimilarity between runs
    def signatures():
        data = read_mesh_file(case.mesh_file)
        names = list(dict.fromkeys(loadings))
        sig = temperature_signatures(case, names, data, times)
        return node_weights(data), sig[:, [names.index(name) for name in loadings]]

    weights, sig = agree(comm, lambda: signatures() if comm.rank == 0 else (None, None))
    W = np.tile(weights, len(times)) if comm.rank == 0 else None
    D = sine_dissimilarity(sig, None, SerialComm(), W) if comm.rank == 0 else None
    trajs = product = None
    if rom.cluster_by == "trajectory" or rom.clusters == "auto":
        from rom.cluster import subspace_dissimilarity

        trajs, product, _ = _trajectories(case, files, comm)
        if rom.cluster_by == "trajectory":
            D = subspace_dissimilarity(trajs, comm, product, eps=rom.eps_u)
    D = comm.bcast(D, root=0)
    # 2. k clusters
    criterion = None
    if rom.clusters == "auto":
        criterion = local_bases_criterion(trajs, D, comm, product, eps=rom.eps_u,
                                          k_max=min(rom.k_max, n),
                                          gen_tol=rom.generalization_tol)
        part = criterion.partition()
        labels, medoids, k = part.labels, part.medoids, criterion.recommended
        say(f"offline: local bases, a priori criterion (k = 1..{len(criterion.ks)}): "
            "expected online cost " + ", ".join(f"{c:.2f}" for c in criterion.costs)
            + f" of the global basis's (dimension {criterion.global_dimension}), "
            "leave-one-out error against the global basis's "
            + ", ".join(f"{g:.2f}" for g in criterion.generalization)
            + f" (at most {1 + rom.generalization_tol:g}); k = {k} recommended")
    else:
        k = int(rom.clusters)
        if k > n:
            raise RomError(f"offline: [rom] clusters = {k}, but only {n} training runs")
        km = kmedoids(D, k, comm=comm)
        labels, medoids = km.labels, km.medoids
    del trajs
    if k == 1:  # the global ROM: the same archive as without clusters
        content, summary = build_one(case, files, comm, log=log, block_bytes=block_bytes,
                                     work=work,
                                     spectrum=os.path.splitext(out_path)[0] + "_spectrum.png")
        if comm.rank == 0:
            write_archive(out_path, content)
        comm.Barrier()  # the archive exists on return, on every rank
        summary["clusters"] = 1
        return summary
    # 3. one ROM per cluster
    members, summaries = [], []
    for c in range(k):
        mine = [files[j] for j in np.flatnonzero(labels == c)]
        say(f"offline: local ROM {c} of {k}: loadings "
            + ", ".join(loadings[j] for j in np.flatnonzero(labels == c))
            + f" (medoid {loadings[medoids[c]]})")
        content, s = build_one(case, mine, comm, log=log, block_bytes=block_bytes, work=work,
                               spectrum=f"{os.path.splitext(out_path)[0]}_spectrum_{c}.png")
        summaries.append(s)
        if comm.rank == 0:
            content["attrs"]["member_loadings"] = json.dumps(
                [loadings[j] for j in np.flatnonzero(labels == c)])
            members.append(content)
    summary = dict(summaries[0])
    summary.update(clusters=k, labels=np.asarray(labels).tolist(),
                   medoids=np.asarray(medoids).tolist(), loadings=loadings,
                   n_modes_members=[s["n_modes"] for s in summaries],
                   n_points_members=[s["n_reduced_points"] for s in summaries],
                   n_snapshots=sum(s["n_snapshots"] for s in summaries),
                   snapshot_files="\n".join(os.path.abspath(p) for p in files))
    if comm.rank == 0:
        clusters = {"by": rom.cluster_by, "k": k, "labels": np.asarray(labels, np.int64),
                    "medoids": np.asarray(medoids, np.int64), "dissimilarity": D,
                    "loadings": json.dumps(loadings),
                    "files": "\n".join(os.path.abspath(p) for p in files),
                    "times": times, "node_weights": weights,
                    "medoid_signatures": sig[:, medoids].T.copy()}
        if criterion is not None:
            clusters.update(criterion_costs=criterion.costs, criterion_ks=criterion.ks,
                            criterion_generalization=criterion.generalization,
                            criterion_generalization_tol=np.float64(criterion.gen_tol),
                            criterion_dimensions=json.dumps(
                                [np.asarray(p.dimensions).tolist()
                                 for p in criterion.partitions]),
                            global_dimension=int(criterion.global_dimension))
        shared = dict(members[0])
        shared["attrs"] = {key: v for key, v in members[0]["attrs"].items()
                           if key != "member_loadings"}
        shared["attrs"]["snapshot_files"] = clusters["files"]
        write_archive(out_path, shared, members=[
            dict(m, attrs={"member_loadings": m["attrs"]["member_loadings"]})
            for m in members], clusters=clusters)
    comm.Barrier()  # the archive exists on return, on every rank
    return summary


MEMBER_ATTRS = ("member_loadings", "revision", "parent", "enrichments")  # per member


def rewrite_members(path, original, replaced):
    """Serial (rank 0). A copy of the dictionary of local ROMs ``original`` into
    ``path`` with the members ``replaced`` (``{member: content}``, e.g. enriched by an
    adaptive run), the others and the clustering unchanged."""
    from rom.archive import read_archive, read_clusters, write_archive

    clusters = read_clusters(original)
    if clusters is None:
        raise RomError(f"{original} is not a dictionary of local ROMs")
    members = [replaced.get(j) or read_archive(original, member=j)
               for j in range(clusters["members"])]
    shared = dict(members[0])
    shared["attrs"] = {k: v for k, v in members[0]["attrs"].items()
                       if k not in MEMBER_ATTRS + ("members", "created", "code_version",
                                                   "format", "format_version")}
    write_archive(path, shared,
                  members=[dict(m, attrs={k: m["attrs"][k] for k in MEMBER_ATTRS
                                          if k in m["attrs"]}) for m in members],
                  clusters={k: v for k, v in clusters.items() if k != "members"})


def selection_distances(mine, medoids, weights):
    """``(k,)`` distances of a temperature signature ``mine (n,)`` to the medoids'
    ``(n, k)`` in the diagonal product ``weights (n,)``: ``sqrt(delta^2 + a^2)`` with
    ``delta`` the sine dissimilarity (the fields' shapes) and ``a = ||m| - |s|| /
    max(|m|, |s|)`` the relative difference of their norms (their levels: two levels
    of one shape have ``delta = 0``)."""
    from rom.cluster import sine_dissimilarity
    from rom.parallel import SerialComm

    delta = sine_dissimilarity(mine[:, None], medoids, SerialComm(), weights)[0]
    n_mine = np.sqrt(np.sum(weights * mine ** 2))
    n_med = np.sqrt(np.sum(weights[:, None] * medoids ** 2, axis=0))
    top = np.maximum(n_med, n_mine)
    a = np.divide(np.abs(n_med - n_mine), top, out=np.zeros_like(top), where=top > 0)
    return np.sqrt(delta ** 2 + a ** 2), n_med


def select_member(clusters, case, data):
    """Serial. The member of a dictionary (``clusters``: :func:`rom.archive.read_clusters`)
    for ``case``'s temperature loading: ``(member, distances (k,))``, the member whose
    medoid's temperature signature is nearest the case's (:func:`selection_distances`,
    at the stored times and in the stored nodal weights, on the mesh ``data``); ties
    (a loading at the reference temperature: at distance 1 from every medoid) go to
    the coolest medoid."""
    times = np.asarray(clusters["times"], dtype=float)
    weights = np.asarray(clusters["node_weights"], dtype=float)
    if len(weights) != data.n_nodes:
        raise RomError(f"dictionary of ROMs: its signatures have {len(weights)} nodes, "
                       f"the mesh {data.n_nodes}")
    mine = temperature_signatures(case, [case.loading], data, times)[:, 0]
    d, n_med = selection_distances(mine, np.asarray(clusters["medoid_signatures"]).T,
                                   np.tile(weights, len(times)))
    return int(np.lexsort((n_med, np.round(d, 12)))[0]), d
