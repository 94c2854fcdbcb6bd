"""The ROM archive ``rom.h5``: everything the online stage needs, in global numbering.

Layout (format ``rom-archive``, version :data:`FORMAT_VERSION`)::

    attrs: format, format_version, code_version, case_name, case_text, law,
           mesh_signature, mesh_file_hash (SHA-256 of the mesh file's bytes),
           n_nodes, n_file_points, n_cells, n_qp_cell (0 on a mixed mesh), cell_type, created,
           dirichlet (the supports "set:components:hash of the nodes;..." of the
           homogeneous Dirichlet conditions the modes satisfy), hyper (the
           reduced quadrature: ecm or nnls; ecm when absent);
           an archive saved by an adaptive run adds revision (the parent's + 1),
           parent (its path) and enrichments (JSON list of the HF steps: loading,
           step, time, indicator, mode and point counts after the update)
    /basis/U (3 n_nodes, N)            displacement modes (row 3*node + component),
                                       orthonormal in the POD product
    /basis/singular_values (n_s,)      of all displacement snapshots
    /basis/qp_weights (n_qp,)          full-order quadrature weights (for cell averages
                                       of reconstructed fields only)
    /reduced/points (m,)               global quadrature ids: ECM points, then the
                                       Gappy points (zero weight)
    /reduced/weights (m,)              ECM weights (0 for Gappy-only points)
    /reduced/B (m, 6, N)               strain of each mode at each reduced point (Mandel)
    /reduced/x (m, 3)                  coordinates of the reduced points
    /reduced/cell_nodes (m, n_nodes_e) global node ids of their cells, their
    /reduced/node_points (m, n_nodes_e, 3) coordinates, and
    /reduced/shape (m, n_nodes_e)      shape functions there (temperature interpolation;
                                       on a mixed mesh n_nodes_e is the largest cell's,
                                       smaller cells padded with their first node and 0)
    /reduced/node_file_ids (k,)        the mesh file's point index of each node of those
                                       cells (sorted global ids: temperature files)
    /gappy/<field>/basis (n_qp * c, r) POD basis of the field (row q * c + component)
    /gappy/<field>/singular_values     /gappy/<field>/rows (r',)  Q-DEIM rows
    /gappy/<field>/mask (m c, r)       the basis rows at the reduced points
    /gappy/<field>/coefficients (r, n_s) coordinates of the (unit) snapshots in the
                                       basis, and the error indicator's calibration
    /gappy/<field>/indicator_factor    factor c_f measured on them (rom.indicator),
    /gappy/<field>/indicator_pairs     over this many (snapshot, truncation) pairs
                                       (optional: factor 1 when absent)
    /gappy/<field>/indicator_learned   the correction of that factor learned from the
                                       HF steps of the adaptive run that saved the
                                       archive (optional: 1)
    /loads/<k>/vector (N,)             reduced external load Psi^T F_k of the *unit*
                                       load term k (rom.loads.LoadTerm), with attrs
                                       name ("pressure:<set>" or "centrifugal"), power,
                                       magnitude (the training case's, for provenance),
                                       axis_point and axis_direction (centrifugal),
                                       support (hash of a pressure set's faces),
                                       and dataset table (the training time factor);
                                       an online run takes magnitudes and tables from
                                       the case it is given
    /supports/<k>/normal, tangential   Psi^T K Psi (N, N) of the unit normal and
                                       tangential stiffness of elastic support k
                                       (attrs set, faces: hash of its faces); the
                                       stiffnesses are the case's (optional)
    /summary                           attrs: ECM residual, counts, timings
    /mesh/points, /mesh/cells,         the case's mesh (rom.mesh.MeshData, global
    /mesh/file_node_ids                numbering): an online run whose mesh file has
    /mesh/node_groups/<i>              the bytes of mesh_file_hash takes it from here
    /mesh/element_groups/<i>/cells     instead of reading and parsing the file; groups
    /mesh/element_groups/<i>/faces/<type>   are numbered, their names in attrs name

A dictionary of local ROMs (``[rom] clusters``, :mod:`rom.dictionary`; format version
:data:`DICTIONARY_VERSION`, which readers of version 3 refuse by name) holds instead
of the operators above one group per member, ``/members/<j>/`` (``basis``,
``reduced``, ``gappy``, ``loads``, ``supports``, ``summary``, and the member's
attrs), the attr ``members`` (their number), and ``/clusters`` (the partition of the
training runs and the medoids' temperature signatures that select a member); the
mesh and the other attrs are shared. A single ROM's archive is unchanged.

A reader refuses a file that is not an archive or has an unknown version, naming the
problem; it reads what its caller needs (:func:`read_archive`'s ``skip``: a rank that
writes no field skips the mesh and the full bases). Writing is done by rank 0 (the small
dimension is replicated and the modes are gathered: ``3 n_nodes x N`` doubles).
"""

import hashlib
import os
import time

import numpy as np

from rom import RomError, __version__

__all__ = ["FORMAT", "FORMAT_VERSION", "write_archive", "read_archive", "read_clusters",
           "read_mesh",
           "read_datasets", "read_rows", "mesh_signature", "file_hash", "REQUIRED", "LEAN"]

FORMAT = "rom-archive"
FORMAT_VERSION = 3  # 3: the mesh and its file hash; 2: reduced loads of unit load terms
# (1: at the training magnitudes)
DICTIONARY_VERSION = 4  # a dictionary of local ROMs (members/, clusters/): version 4
READ_VERSIONS = (FORMAT_VERSION, DICTIONARY_VERSION)

# datasets an archive must hold (a reader names the first one missing)
REQUIRED = ("basis/U", "basis/singular_values", "basis/qp_weights", "reduced/points",
            "reduced/weights", "reduced/B", "reduced/x", "reduced/cell_nodes",
            "reduced/shape", "reduced/node_points", "reduced/n_ecm", "reduced/node_file_ids",
            "mesh/points", "mesh/cells", "mesh/file_node_ids")

# what a rank that reconstructs no full field skips (read_archive's skip): whatever has
# the size of the mesh (the mesh, the full bases, the quadrature weights)
LEAN = ("mesh", "basis/U", "basis/qp_weights", "gappy/*/basis")


def mesh_signature(points, cells):
    """A hash of the mesh (node coordinates rounded to 1e-9, connectivity): ``cells``
    the connectivity of a single-type mesh or the blocks ``[(type, connectivity)]``
    (:attr:`rom.mesh.MeshData.block_cells`; one block hashes as its connectivity)."""
    h = hashlib.sha256()
    h.update(np.round(np.asarray(points, dtype=float), 9).tobytes())
    if isinstance(cells, (list, tuple)) and len(cells) == 1:
        cells = cells[0][1]
    if isinstance(cells, (list, tuple)):
        for t, c in cells:
            h.update(t.encode())
            h.update(np.asarray(c, dtype=np.int64).tobytes())
    else:
        h.update(np.asarray(cells, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]


def file_hash(path):
    """SHA-256 of the bytes of the file ``path`` (hex, 32 characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def _write_mesh(g, data):
    """The :class:`rom.mesh.MeshData` ``data`` into the HDF5 group ``g``."""
    g["points"] = data.points
    if data.mixed:  # one dataset per cell type, in block order
        for t, c in data.block_cells:
            g[f"cells/{t}"] = c
        g.attrs["cell_types"] = [t for t, _ in data.block_cells]
    else:
        g["cells"] = data.cells
    g["file_node_ids"] = np.asarray(data.file_node_ids, dtype=np.int64)
    g.attrs["cell_type"], g.attrs["n_file_points"] = data.cell_type, int(data.n_file_points)
    for i, (name, ids) in enumerate(sorted(data.node_groups.items())):
        d = g.create_dataset(f"node_groups/{i}", data=np.asarray(ids, dtype=np.int64))
        d.attrs["name"] = name
    for i, (name, grp) in enumerate(sorted(data.element_groups.items())):
        e = g.create_group(f"element_groups/{i}")
        e.attrs["name"] = name
        e["cells"] = np.asarray(grp["cells"], dtype=np.int64)
        for t, conn in grp["faces"].items():
            e[f"faces/{t}"] = np.asarray(conn, dtype=np.int64)


def _read_mesh(g, source):
    """The :class:`rom.mesh.MeshData` stored by :func:`_write_mesh` in group ``g``."""
    from rom.mesh import MeshData

    node_groups = {str(d.attrs["name"]): d[...] for d in g.get("node_groups", {}).values()}
    element_groups = {}
    for e in g.get("element_groups", {}).values():
        element_groups[str(e.attrs["name"])] = {
            "cells": e["cells"][...],
            "faces": {t: c[...] for t, c in e.get("faces", {}).items()}}
    cell_type = str(g.attrs["cell_type"])
    cells = ([(str(t), g[f"cells/{t}"][...]) for t in g.attrs["cell_types"]]
             if cell_type == "mixed" else g["cells"][...])
    return MeshData(points=g["points"][...], cell_type=cell_type,
                    cells=cells, element_groups=element_groups,
                    node_groups=node_groups, source=source,
                    file_node_ids=g["file_node_ids"][...],
                    n_file_points=int(g.attrs["n_file_points"]))


def _write_member(f, content):
    """The operators of one ROM (``basis``, ``reduced``, ``gappy``, ``supports``,
    ``loads``, ``summary`` of ``content``) into the HDF5 group ``f``."""
    for group in ("basis", "reduced"):
        for k, v in content[group].items():
            f[f"{group}/{k}"] = v
    for name, g in content["gappy"].items():
        for k, v in g.items():
            f[f"gappy/{name}/{k}"] = v
    for i, sp in enumerate(content.get("supports", [])):
        for k in ("normal", "tangential"):
            f[f"supports/{i}/{k}"] = sp[k]
        f[f"supports/{i}"].attrs.update({"set": sp["set"], "faces": sp["faces"]})
    for i, term in enumerate(content["loads"]):
        d = f.create_dataset(f"loads/{i}/vector", data=term["vector"])
        d.attrs["name"] = term["name"]
        d.attrs["power"] = term["power"]
        d.attrs["magnitude"] = float(term.get("magnitude", 1.0))
        d.attrs["support"] = term.get("support", "")
        if term.get("axis") is not None:
            d.attrs["axis_point"] = np.asarray(term["axis"][0], dtype=float)
            d.attrs["axis_direction"] = np.asarray(term["axis"][1], dtype=float)
        f[f"loads/{i}/table"] = (np.asarray(term["table"], dtype=float)
                                 if term["table"] is not None else np.zeros((0, 2)))
    s = f.create_group("summary")
    for k, v in content.get("summary", {}).items():
        s.attrs[k] = v


def write_archive(path, content, members=None, clusters=None):
    """Write ``content`` (a dict as returned by :func:`read_archive`) to ``path``
    atomically (temporary file, then rename). Serial: call on one rank.

    A dictionary of local ROMs: ``members`` (a list of such dicts, their ``attrs``
    written on each member's group) are written under ``members/<j>`` instead of
    ``content``'s operators, sharing ``content``'s attributes and mesh, with the
    clustering ``clusters`` (a dict of arrays and scalars, :mod:`rom.dictionary`)."""
    import h5py

    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["code_version"] = __version__
        f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        for k, v in content["attrs"].items():
            f.attrs[k] = v
        if members is None:
            _write_member(f, content)
        else:
            f.attrs["format_version"] = DICTIONARY_VERSION  # older readers refuse it
            f.attrs["members"] = len(members)
            for j, m in enumerate(members):
                g = f.create_group(f"members/{j}")
                _write_member(g, m)
                for k, v in m.get("attrs", {}).items():
                    g.attrs[k] = v
            c = f.create_group("clusters")
            for k, v in (clusters or {}).items():
                if isinstance(v, np.ndarray):
                    c[k] = v
                else:
                    c.attrs[k] = v
        _write_mesh(f.create_group("mesh"), content["mesh"])
    os.replace(tmp, path)


def read_clusters(path):
    """The clustering of a dictionary of local ROMs ``path`` (arrays and attributes of
    its ``clusters`` group, with ``members``: their number), or None for a single
    ROM."""
    import h5py

    if not os.path.isfile(path):
        raise RomError(f"ROM archive not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if "members" not in f.attrs:
                return None
            out = {k: _py(v) for k, v in f["clusters"].attrs.items()}
            out.update({k: d[...] for k, d in f["clusters"].items()})
            out["members"] = int(f.attrs["members"])
            return out
    except OSError as exc:
        raise RomError(f"cannot open ROM archive {path}: {exc} (truncated or not HDF5)") \
            from None
    except KeyError as exc:
        raise RomError(f"ROM archive {path} is incomplete: missing {exc}") from None


def read_archive(path, skip=(), member=None):
    """Read a ROM archive into a dict (``attrs``, ``basis``, ``reduced``, ``gappy``,
    ``loads``, ``summary``, ``mesh``: a :class:`rom.mesh.MeshData`, ``path``, ``root``:
    the group of the operators, ``member``); raises :class:`rom.RomError` naming the
    problem.

    ``skip``: dataset paths (``fnmatch`` patterns, e.g. :data:`LEAN`) not read; they
    are absent from the dict (``mesh`` is None). ``member``: which ROM of a dictionary
    of local ROMs (its attributes override the shared ones); required for one."""
    import fnmatch

    import h5py

    if not os.path.isfile(path):
        raise RomError(f"ROM archive not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise RomError(f"cannot open ROM archive {path}: {exc} (truncated or not HDF5)") \
            from None

    def wanted(name):
        return not any(fnmatch.fnmatchcase(name, pat) for pat in skip)

    def group(name):  # (skip patterns name datasets without the member's prefix)
        short = name.split("/", 2)[2] if name.startswith("members/") else name
        return {k: v[...] for k, v in f[name].items() if wanted(f"{short}/{k}")}

    with f:
        fmt = f.attrs.get("format")
        if fmt != FORMAT:
            raise RomError(f"{path} is not a ROM archive (format attribute {fmt!r})")
        version = f.attrs.get("format_version")
        if version is None or int(version) not in READ_VERSIONS:
            raise RomError(f"{path} has ROM archive format version {version}; this code "
                           f"reads versions {', '.join(map(str, READ_VERSIONS))} (rebuild "
                           "it with run.py offline)")
        n_members = int(f.attrs.get("members", 0))
        root = ""
        if n_members:
            if member is None or not 0 <= int(member) < n_members:
                raise RomError(f"{path} is a dictionary of {n_members} local ROMs: "
                               f"member {member} does not exist (0 to {n_members - 1}; "
                               "the online command selects one by the loading)")
            root = f"members/{int(member)}/"
        elif member not in (None, 0):
            raise RomError(f"{path} holds one ROM, not a dictionary: no member {member}")
        missing = [name for name in REQUIRED
                   if (name if name.startswith("mesh/") else root + name) not in f]
        if missing:
            raise RomError(f"ROM archive {path} is incomplete: missing dataset "
                           f"{', '.join(missing)}")
        r = f[root] if root else f
        try:
            attrs = {k: _py(v) for k, v in f.attrs.items()}
            attrs.update({k: _py(v) for k, v in r.attrs.items()} if root else {})
            out = {"attrs": attrs,
                   "basis": group(root + "basis"), "reduced": group(root + "reduced"),
                   "gappy": {name: group(f"{root}gappy/{name}") for name in r.get("gappy", {})},
                   "loads": [], "summary": {k: _py(v) for k, v in r["summary"].attrs.items()},
                   "supports": [{"set": str(g.attrs["set"]), "faces": str(g.attrs["faces"]),
                                 "normal": g["normal"][...],
                                 "tangential": g["tangential"][...]}
                                for _, g in sorted(r.get("supports", {}).items(),
                                                   key=lambda kv: int(kv[0]))],
                   "mesh": _read_mesh(f["mesh"], path) if wanted("mesh") else None,
                   "path": os.path.abspath(path), "root": root,
                   "member": int(member) if n_members else None}
            for name, g in out["gappy"].items():
                if "mask" not in g:
                    raise KeyError(f"gappy/{name}/mask")
            for i in sorted(r.get("loads", {}).keys(), key=int):
                d = r[f"loads/{i}/vector"]
                table = r[f"loads/{i}/table"][...]
                axis = None
                if "axis_point" in d.attrs:
                    axis = (tuple(d.attrs["axis_point"].tolist()),
                            tuple(d.attrs["axis_direction"].tolist()))
                out["loads"].append({"name": str(d.attrs["name"]), "power": int(d.attrs["power"]),
                                     "magnitude": float(d.attrs["magnitude"]), "axis": axis,
                                     "support": str(d.attrs.get("support", "")),
                                     "vector": d[...], "table": table if len(table) else None})
        except KeyError as exc:
            raise RomError(f"ROM archive {path} is incomplete: missing {exc}") from None
        except OSError as exc:
            raise RomError(f"cannot read ROM archive {path}: {exc} (damaged)") from None
    return out


def read_mesh(path):
    """The mesh (:class:`rom.mesh.MeshData`) stored in the ROM archive ``path``."""
    import h5py

    with h5py.File(path, "r") as f:
        return _read_mesh(f["mesh"], path)


def read_datasets(path, names, root=""):
    """``{name: array}`` of the datasets ``names`` of the ROM archive ``path`` that it
    holds (what :func:`read_archive` skipped, read when needed), under the group
    ``root`` (a member's, ``read_archive(...)["root"]``)."""
    import h5py

    with h5py.File(path, "r") as f:
        return {name: f[root + name][...] for name in names if root + name in f}


def read_rows(path, name, rows, block=1 << 16, out=None):
    """Rows ``rows`` (global ids, any order) of the 2-D dataset ``name`` of the ROM
    archive ``path``: what a rank holds of a full basis (its owned dofs or quadrature
    rows), read by blocks of ``block`` rows, so that the memory is the result plus one
    block, never the whole basis. ``out``: the array to read into (any memory
    layout, e.g. the columns of a buffer), of shape ``(len(rows),) + row shape``."""
    import h5py

    rows = np.asarray(rows, dtype=np.int64)
    with h5py.File(path, "r") as f:
        d = f[name]
        shape = (len(rows),) + d.shape[1:]
        if out is None:
            out = np.empty(shape, dtype=d.dtype)
        elif out.shape != shape:
            raise RomError(f"ROM archive {path}: {len(rows)} rows of {name} (each of shape "
                           f"{d.shape[1:]}) do not fit an array of shape {out.shape}")
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= d.shape[0]:
            raise RomError(f"ROM archive {path}: rows outside {name} ({d.shape[0]} rows)")
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        for lo in range(int(sorted_rows[0]) // block * block, int(sorted_rows[-1]) + 1, block):
            a, b = np.searchsorted(sorted_rows, [lo, lo + block])
            if a == b:
                continue
            chunk = d[lo: min(lo + block, d.shape[0])]
            out[order[a:b]] = chunk[sorted_rows[a:b] - lo]
    return out


def _py(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
