"""The ROM archive ``rom.h5``: everything the online stage needs, in global numbering.

Layout (format ``rom-archive``, version :data:`FORMAT_VERSION`)::

    attrs: format, format_version, code_version, case_name, case_text, law,
           mesh_signature, n_nodes, n_cells, n_qp_cell, cell_type, created,
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
    /reduced/shape (m, n_nodes_e)      shape functions there (temperature interpolation)
    /gappy/<field>/basis (n_qp * c, r) POD basis of the field (row q * c + component)
    /gappy/<field>/singular_values     /gappy/<field>/rows (r',)  Q-DEIM rows
    /gappy/<field>/mask (m c, r)       the basis rows at the reduced points (optional:
                                       taken from the basis when absent)
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
    /summary                           attrs: ECM residual, counts, timings

A reader refuses a file that is not an archive or has an unknown version, naming the
problem. Writing is done by rank 0 (the small dimension is replicated and the modes
are gathered: ``3 n_nodes x N`` doubles).
"""

import hashlib
import os
import time

import numpy as np

from rom import RomError, __version__

__all__ = ["FORMAT", "FORMAT_VERSION", "write_archive", "read_archive", "mesh_signature",
           "REQUIRED"]

FORMAT = "rom-archive"
FORMAT_VERSION = 2  # 2: reduced loads of unit load terms (1: at the training magnitudes)

# datasets an archive must hold (a reader names the first one missing)
REQUIRED = ("basis/U", "basis/singular_values", "basis/qp_weights", "reduced/points",
            "reduced/weights", "reduced/B", "reduced/x", "reduced/cell_nodes",
            "reduced/shape", "reduced/node_points", "reduced/n_ecm")


def mesh_signature(points, cells):
    """A hash of the mesh (node coordinates rounded to 1e-9, connectivity)."""
    h = hashlib.sha256()
    h.update(np.round(np.asarray(points, dtype=float), 9).tobytes())
    h.update(np.asarray(cells, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]


def write_archive(path, content):
    """Write ``content`` (a dict as returned by :func:`read_archive`) to ``path``
    atomically (temporary file, then rename). Serial: call on one rank."""
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
        for group in ("basis", "reduced"):
            for k, v in content[group].items():
                f[f"{group}/{k}"] = v
        for name, g in content["gappy"].items():
            for k, v in g.items():
                f[f"gappy/{name}/{k}"] = v
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
    os.replace(tmp, path)


def read_archive(path):
    """Read a ROM archive into a dict (``attrs``, ``basis``, ``reduced``, ``gappy``,
    ``loads``, ``summary``); raises :class:`rom.RomError` naming the problem."""
    import h5py

    if not os.path.isfile(path):
        raise RomError(f"ROM archive not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise RomError(f"cannot open ROM archive {path}: {exc} (truncated or not HDF5)") \
            from None
    with f:
        fmt = f.attrs.get("format")
        if fmt != FORMAT:
            raise RomError(f"{path} is not a ROM archive (format attribute {fmt!r})")
        version = f.attrs.get("format_version")
        if version is None or int(version) != FORMAT_VERSION:
            raise RomError(f"{path} has ROM archive format version {version}; this code "
                           f"reads version {FORMAT_VERSION} (rebuild it with run.py offline)")
        missing = [name for name in REQUIRED if name not in f]
        if missing:
            raise RomError(f"ROM archive {path} is incomplete: missing dataset "
                           f"{', '.join(missing)}")
        try:
            out = {"attrs": {k: _py(v) for k, v in f.attrs.items()},
                   "basis": {k: v[...] for k, v in f["basis"].items()},
                   "reduced": {k: v[...] for k, v in f["reduced"].items()},
                   "gappy": {name: {k: v[...] for k, v in g.items()}
                             for name, g in f.get("gappy", {}).items()},
                   "loads": [], "summary": {k: _py(v) for k, v in f["summary"].attrs.items()}}
            for i in sorted(f.get("loads", {}).keys(), key=int):
                d = f[f"loads/{i}/vector"]
                table = f[f"loads/{i}/table"][...]
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


def _py(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v
