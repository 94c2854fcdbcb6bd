"""XDMF (v3) descriptions of HDF5 time series, for ParaView (and meshio's reader).

The domain holds one temporal collection and nothing else; each of its uniform grids
is one time step: its topology and geometry (DataItems naming the same HDF5 datasets
in every step, so the heavy data is stored once), its time and its attributes::

    Domain
      Grid "TimeSeries" (Collection, Temporal)
        Grid "step0" (Uniform): Topology, Geometry, Time, Attribute...
        Grid "step1" ...

ParaView's three XDMF readers ("XDMF Reader", "Xdmf3ReaderS", "Xdmf3ReaderT") show
one block per step. (meshio's ``TimeSeriesWriter`` layout, a top-level ``mesh`` grid
that the steps include by XPointer, made the legacy "XDMF Reader" draw that grid as a
second, undeformed block over the result.) meshio's ``TimeSeriesReader`` takes the
mesh from the first step.
"""

import os
from xml.etree import ElementTree as ET

import numpy as np

from rom.fem.kernels import SQ2

__all__ = ["write_xdmf", "mandel_to_tensor6", "XDMF_TOPOLOGY", "cell_datasets", "topology"]

XDMF_TOPOLOGY = {"tetra": "Tetrahedron", "tetra10": "Tetrahedron_10",
                 "hexahedron": "Hexahedron", "hexahedron20": "Hexahedron_20",
                 "wedge": "Wedge", "wedge15": "Wedge_15", "pyramid": "Pyramid",
                 "pyramid13": "Pyramid_13"}
# cell type codes of XDMF's "Mixed" topology (XdmfTopologyType ids)
XDMF_CODE = {"tetra": 6, "pyramid": 7, "wedge": 8, "hexahedron": 9, "tetra10": 38,
             "pyramid13": 39, "wedge15": 40, "hexahedron20": 48}
MIXED_PATH = "/mesh/topology"
_ATTRIBUTE_TYPE = {1: "Scalar", 3: "Vector", 6: "Tensor6", 9: "Tensor"}


def mandel_to_tensor6(a):
    """Mandel ``(..., 6)`` -> XDMF Tensor6 ``(xx, xy, xz, yy, yz, zz)``."""
    a = np.asarray(a)
    return np.stack([a[..., 0], a[..., 5] / SQ2, a[..., 4] / SQ2, a[..., 1], a[..., 3] / SQ2,
                     a[..., 2]], axis=-1)


def cell_datasets(blocks):
    """The HDF5 datasets of a mesh's cells, ``{path: array}``, for blocks ``[(type,
    connectivity)]``: ``/mesh/cells/<type>`` for every type and, for a mixed mesh,
    :data:`MIXED_PATH`: XDMF's "Mixed" connectivity (each cell's type code, then its
    nodes), cells in block order."""
    out = {f"/mesh/cells/{t}": np.asarray(c, dtype=np.int64) for t, c in blocks}
    if len(blocks) > 1:
        out[MIXED_PATH] = np.concatenate([np.hstack([np.full((len(c), 1), XDMF_CODE[t]),
                                                     np.asarray(c, dtype=np.int64)]).ravel()
                                          for t, c in blocks])
    return out


def topology(counts):
    """The XDMF topology ``(TopologyType, n_cells, dataset path, dataset shape)`` of a
    mesh with ``counts`` = ``[(type, number of cells)]`` in block order (the datasets
    of :func:`cell_datasets`)."""
    from rom.fem.elements import get_element

    if len(counts) == 1:
        t, n = counts[0]
        return XDMF_TOPOLOGY[t], n, f"/mesh/cells/{t}", (n, get_element(t).n_nodes)
    n = sum(c for _, c in counts)
    size = sum(c * (1 + get_element(t).n_nodes) for t, c in counts)
    return "Mixed", n, MIXED_PATH, (size,)


def _data_item(parent, h5name, path, shape, dtype="Float", precision=8):
    dims = " ".join(str(s) for s in shape)
    item = ET.SubElement(parent, "DataItem", DataType=dtype, Dimensions=dims, Format="HDF",
                         Precision=str(precision))
    item.text = f"{h5name}:{path}"
    return item


def write_xdmf(xdmf_path, h5_path, topo, n_nodes, steps, points_path="/mesh/points"):
    """Write ``xdmf_path`` describing the HDF5 file ``h5_path``.

    Parameters
    ----------
    topo : ``(TopologyType, n_cells, cells dataset path, its shape)`` (:func:`topology`)
    steps : list of ``(time, attributes)``, ``attributes`` a list of
        ``(name, center, shape, h5 dataset path)`` with center ``"Node"`` or ``"Cell"``
        and ``shape`` ``(n,)`` or ``(n, k)``, ``k`` in 1 (Scalar), 3 (Vector), 6
        (Tensor6: xx, xy, xz, yy, yz, zz) or 9 (Tensor).

    One grid per step (module docstring), all naming the mesh datasets
    ``points_path`` and the cells' of ``h5_path``. The file is replaced atomically
    (written beside it, then renamed).
    """
    h5name = os.path.relpath(h5_path, os.path.dirname(os.path.abspath(xdmf_path)))
    topology_type, n_cells, cells_path, cells_shape = topo
    root = ET.Element("Xdmf", Version="3.0")
    domain = ET.SubElement(root, "Domain")
    series = ET.SubElement(domain, "Grid", Name="TimeSeries", GridType="Collection",
                           CollectionType="Temporal")
    for k, (t, attributes) in enumerate(steps):
        g = ET.SubElement(series, "Grid", Name=f"step{k}", GridType="Uniform")
        topo = ET.SubElement(g, "Topology", TopologyType=topology_type,
                             NumberOfElements=str(n_cells))
        _data_item(topo, h5name, cells_path, cells_shape, dtype="Int")
        geo = ET.SubElement(g, "Geometry", GeometryType="XYZ")
        _data_item(geo, h5name, points_path, (n_nodes, 3))
        ET.SubElement(g, "Time", Value=repr(float(t)))
        for name, center, shape, path in attributes:
            ncomp = 1 if len(shape) == 1 else shape[1]
            a = ET.SubElement(g, "Attribute", Name=name, AttributeType=_ATTRIBUTE_TYPE[ncomp],
                              Center=center)
            _data_item(a, h5name, path, shape)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tmp = xdmf_path + ".tmp"
    tree.write(tmp, xml_declaration=True, encoding="utf-8")
    os.replace(tmp, xdmf_path)
