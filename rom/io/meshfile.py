"""Read mesh files into a :class:`rom.mesh.MeshData` (serial, global).

Abaqus/CalculiX decks (``.inp``: NSET, ELSET, SURFACE, INCLUDE) are read by
:mod:`rom.io.abaqus`, Z-set meshes (``.geof``) by :mod:`rom.io.zset`; any other
format meshio reads (gmsh ``.msh`` v2/v4 with physical groups, VTU, XDMF, MED, ...)
by meshio (MED's volume cells put from MED's node order into VTK's). Named groups
come from, in order: meshio's ``cell_sets`` (gmsh 4 physical names), gmsh 2
physical names (``field_data`` + ``gmsh:physical``), MED families, and
``point_sets`` for node groups.
"""

import os

import numpy as np

from rom import RomError
from rom.fem.elements import FACE_TYPES, VOLUME_TYPES

# lower-dimensional cells that may carry names but are not part of the volume mesh
_IGNORED_TYPES = ("vertex", "line", "line3")


def read_mesh_file(path):
    """Read ``path`` with meshio; returns a :class:`rom.mesh.MeshData`.

    Raises :class:`rom.RomError` naming the problem for a missing file, a format
    meshio does not know, unsupported volume cells, or no volume cells at all.
    """
    if path.lower().endswith(".geof"):  # Z-set: no meshio reader
        from rom.io.zset import read_geof

        return read_geof(path)
    if path.lower().endswith(".inp"):  # Abaqus/CalculiX deck: meshio misses *SURFACE
        from rom.io.abaqus import read_abaqus

        return read_abaqus(path)
    import meshio

    from rom.io.orderings import register_meshio_cell_types

    register_meshio_cell_types()
    if not os.path.isfile(path):
        raise RomError(f"mesh file not found: {path}")
    try:
        # meshio would try ANSYS first for .msh (and print its failure to stdout)
        fmt = "gmsh" if path.lower().endswith(".msh") else None
        m = meshio.read(path, file_format=fmt)
    except meshio.ReadError as exc:
        raise RomError(f"cannot read mesh file {path}: {exc}") from None
    except SystemExit:  # meshio exits when no candidate format can read the file
        raise RomError(f"cannot read mesh file {path}: no meshio reader understands it") \
            from None
    except KeyError as exc:
        if path.lower().endswith((".xdmf", ".xmf")):  # rom.io.orderings' docstring
            raise RomError(f"cannot read mesh file {path}: meshio 5.0 reads XDMF 'Mixed' "
                           f"topologies of linear cells only (cell type code {exc}); "
                           "write the mesh as .msh, .vtu or .med") from None
        raise RomError(f"cannot read mesh file {path} (KeyError: {exc}); is it a mesh "
                       "format meshio knows?") from None
    except (ValueError, IndexError, OSError) as exc:
        raise RomError(f"cannot read mesh file {path} ({type(exc).__name__}: {exc}); "
                       "is it a mesh format meshio knows?") from None
    fmt = {".med": "med", ".msh": "gmsh"}.get(os.path.splitext(path)[1].lower())
    if fmt:
        _to_our_order(m, fmt)
    return mesh_data_from_meshio(m, source=path)


# MED numbers the nodes of a cell in its own order (the first face seen from outside
# for volumes): meshio's cell ``[MED[p[0]], MED[p[1]], ...]`` in VTK's order, for
# the volume cells this project takes (found on gmsh-written MED files against the
# same meshes in gmsh format: one permutation for every cell; tests/test_mesh.py)
MED_TO_VTK = {
    "tetra": (0, 2, 1, 3),
    "tetra10": (0, 2, 1, 3, 6, 5, 4, 7, 9, 8),
    "hexahedron": (0, 3, 2, 1, 4, 7, 6, 5),
    "hexahedron20": (0, 3, 2, 1, 4, 7, 6, 5, 11, 10, 9, 8, 15, 14, 13, 12, 16, 19, 18, 17),
}


def _orders(file_format):
    """``{cell type: perm}`` with ``cells_ours = cells_as_read[:, perm]`` for the cells
    of ``file_format`` (``"med"``, ``"gmsh"``; ``"abaqus"``: the order of a deck's
    lines, which :mod:`rom.io.abaqus` reads) that meshio returns in another order
    than ours (:data:`MED_TO_VTK`, :data:`rom.io.orderings.PERMUTATIONS`); the writer
    applies their inverses."""
    from rom.io.orderings import PERMUTATIONS

    out = dict(MED_TO_VTK) if file_format == "med" else {}
    out.update(PERMUTATIONS.get(file_format, {}))
    return out


def _to_our_order(m, file_format):
    """Reorder, in place, the volume cells of the meshio mesh ``m`` read from a
    ``file_format`` file into our (VTK's) node order (:func:`_orders`)."""
    import meshio

    orders = _orders(file_format)
    for i, block in enumerate(m.cells):
        p = orders.get(block.type)
        if p is not None:
            m.cells[i] = meshio.CellBlock(block.type, np.asarray(block.data)[:, p])


def _block_names_gmsh2(m):
    """Per block, per cell: list of group names (gmsh 2 physical tags)."""
    phys = m.cell_data.get("gmsh:physical")
    if phys is None or not m.field_data:
        return {}
    by_tag = {}
    for name, (tag, dim) in m.field_data.items():
        by_tag.setdefault((int(tag), int(dim)), []).append(name)
    dims = {"vertex": 0, "line": 1, "line3": 1, "triangle": 2, "triangle6": 2, "quad": 2,
            "quad8": 2, "quad9": 2}
    sets = {}
    for ib, (block, tags) in enumerate(zip(m.cells, phys)):
        dim = dims.get(block.type, 3)
        for tag in np.unique(tags):
            for name in by_tag.get((int(tag), dim), []):
                sets.setdefault(name, {})[ib] = np.flatnonzero(tags == tag)
    return sets


def _block_names_med(m):
    tags = m.cell_data.get("cell_tags")
    families = getattr(m, "cell_tags", None)
    if tags is None or not families:
        return {}
    sets = {}
    for ib, t in enumerate(tags):
        for fam, names in families.items():
            idx = np.flatnonzero(np.asarray(t) == fam)
            for name in names if idx.size else []:
                prev = sets.setdefault(name, {}).get(ib)
                sets[name][ib] = idx if prev is None else np.union1d(prev, idx)
    return sets


def mesh_data_from_meshio(m, source="<memory>"):
    """Convert a ``meshio.Mesh`` into :class:`rom.mesh.MeshData`.

    Unreferenced points are dropped and the nodes renumbered compactly, in file
    order; that numbering is the global numbering of every output.
    """
    from rom.mesh import MeshData

    volume_blocks = [b for b in m.cells if b.type in VOLUME_TYPES]
    unknown = sorted({b.type for b in m.cells
                      if b.type not in VOLUME_TYPES + FACE_TYPES + _IGNORED_TYPES})
    if unknown:
        raise RomError(f"{source}: unsupported cell type(s) {', '.join(unknown)}; supported "
                       f"volume cells are {', '.join(VOLUME_TYPES)}")
    if not volume_blocks:
        raise RomError(f"{source}: no volume cells (need one of {', '.join(VOLUME_TYPES)})")
    types = sorted({b.type for b in volume_blocks})

    # named groups: name -> {block index: cell indices in block}
    groups = {}
    for name, per_block in (m.cell_sets or {}).items():
        if name.startswith("gmsh:"):
            continue
        for ib, idx in enumerate(per_block):
            if idx is not None and len(idx):
                groups.setdefault(name, {})[ib] = np.asarray(idx, dtype=np.int64)
    for extra in (_block_names_gmsh2(m), _block_names_med(m)):
        for name, per_block in extra.items():
            groups.setdefault(name, {}).update(per_block)

    # volume cells: one block per type (types in alphabetical order), each the
    # concatenation of the file's blocks of that type in file order
    offsets, blocks = {}, []
    n = 0
    for t in types:
        conns = []
        for ib, b in enumerate(m.cells):
            if b.type == t:
                offsets[ib] = n
                conns.append(np.asarray(b.data, dtype=np.int64))
                n += len(b.data)
        blocks.append((t, np.concatenate(conns)))
    all_cells = np.concatenate([c.ravel() for _, c in blocks])

    # compact numbering of referenced nodes
    used = np.zeros(len(m.points), dtype=bool)
    used[all_cells] = True
    del all_cells
    new_id = np.full(len(m.points), -1, dtype=np.int64)
    new_id[used] = np.arange(used.sum())
    points = np.asarray(m.points, dtype=float)[used]
    if points.shape[1] == 2:
        points = np.hstack([points, np.zeros((len(points), 1))])
    blocks = [(t, new_id[c]) for t, c in blocks]

    element_groups, node_groups = {}, {}
    for name, per_block in groups.items():
        vol = [offsets[ib] + idx for ib, idx in per_block.items() if ib in offsets]
        faces = {}
        nodes = []
        for ib, idx in per_block.items():
            b = m.cells[ib]
            conn = new_id[np.asarray(b.data, dtype=np.int64)[idx]]
            nodes.append(conn.ravel())
            if b.type in FACE_TYPES:
                faces.setdefault(b.type, []).append(conn)
        element_groups[name] = {
            "cells": np.unique(np.concatenate(vol)) if vol else np.zeros(0, np.int64),
            "faces": {t: np.concatenate(c) for t, c in faces.items()},
        }
        nodes = np.concatenate(nodes) if nodes else np.zeros(0, np.int64)
        node_groups[name] = np.unique(nodes[nodes >= 0])
    for name, idx in (m.point_sets or {}).items():
        ids = new_id[np.asarray(idx, dtype=np.int64)]
        node_groups[name] = np.unique(np.concatenate([node_groups.get(name, []),
                                                      ids[ids >= 0]]).astype(np.int64))
    return MeshData(points=points, cell_type="mixed", cells=blocks,
                    element_groups=element_groups, node_groups=node_groups, source=source,
                    file_node_ids=np.flatnonzero(used), n_file_points=len(m.points))


def write_mesh_file(path, data, file_format=None):
    """Write a :class:`rom.mesh.MeshData` with meshio (used for generated meshes).

    Named groups are written for gmsh (``.msh``, format 2.2, as physical groups:
    one group per element, the volume group first) and Abaqus (``.inp``, as ELSET
    and NSET); other formats get the geometry only (define sets in the case file).
    MED and gmsh files get their cells in the format's node order (:func:`_orders`).
    """
    import meshio

    from rom.io.orderings import register_meshio_cell_types

    register_meshio_cell_types()
    ext = os.path.splitext(path)[1]
    if ext == ".msh" and file_format is None:
        file_format = "gmsh22"  # meshio would take .msh for ANSYS; 2.2 keeps the groups
    groups = file_format == "gmsh22" or ext == ".inp"
    # the volume blocks first, in the file format's node order (meshio writes as given)
    orders = _orders({".med": "med", ".msh": "gmsh", ".inp": "abaqus"}.get(ext.lower(), ""))
    cells = [(t, c[:, np.argsort(orders[t])] if t in orders else c)
             for t, c in data.block_cells]
    n_vol = len(cells)
    cell_sets = {}
    if groups:
        for g in data.element_groups.values():
            cells.extend(g["faces"].items())
        ib = n_vol
        for name, g in data.element_groups.items():
            per = [np.zeros(0, np.int64) for _ in cells]
            ids = np.asarray(g["cells"], dtype=np.int64)
            for i, b in enumerate(data.blocks):
                per[i] = ids[(ids >= b.start) & (ids < b.stop)] - b.start
            for _ in g["faces"]:
                per[ib] = np.arange(len(cells[ib][1]))
                ib += 1
            cell_sets[name] = per
    if file_format == "gmsh22":
        tags = [np.zeros(len(c[1]), dtype=np.int64) for c in cells]
        field_data = {}
        for it, (name, per) in enumerate(cell_sets.items()):
            field_data[name] = np.array([it + 1, 3 if any(p.size for p in per[:n_vol])
                                         else 2])
            for ib, idx in enumerate(per):
                tags[ib][idx] = it + 1
        m = meshio.Mesh(data.points, cells,
                        cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
                        field_data=field_data)
    else:
        m = meshio.Mesh(data.points, cells, cell_sets=cell_sets or None,
                        point_sets=dict(data.node_groups) if groups else None)
    meshio.write(path, m, file_format=file_format)
