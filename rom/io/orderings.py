"""Node orders of the wedges and pyramids of the files users bring, against ours.

The project's order is meshio's name for each cell type with VTK's node order
(:mod:`rom.fem.elements`): a wedge's triangle (0, 1, 2) has its right-hand normal
pointing away from the opposite triangle (3, 4, 5), as ``vtkWedge`` and
``vtkQuadraticWedge`` document; a pyramid's base (0, 1, 2, 3) is counterclockwise
seen from the apex 4. For each file format and cell type whose cells, as meshio
returns them (or as they stand in the file, for Abaqus decks), are in another order,
:data:`PERMUTATIONS` gives ``perm`` with

    cells_ours = cells_as_read[:, perm]

the convention of :data:`rom.io.meshfile.MED_TO_VTK` (MED's tetrahedra and
hexahedra). A cell type a format does not list is in our order already.

How they were established (gmsh 4.15, meshio 5.0 as Debian ships it; the test
``tests/test_element_orderings.py`` repeats it): gmsh meshed a 1 x 1 x 2 box as
prisms (a meshed square extruded in 3 recombined layers) and a 2 x 1 x 1 box as
structured hexahedra beside tetrahedra (gmsh puts pyramids on the quadrilaterals
between them), at orders 1 and 2 (``Mesh.SecondOrderIncomplete``: 15- and 13-node
cells), and wrote each mesh as gmsh 4.1 ``.msh``, MED and Abaqus ``.inp``. Read
back (meshio for ``.msh`` and MED, the deck's lines for ``.inp``), every cell's
Jacobian determinant at the quadrature points has the same sign: all negative in
the order as read for the wedges of ``.msh`` and ``.inp`` and the pyramids of MED,
all positive otherwise; after the permutation below all are positive and the
cells fill the boxes' volumes exactly. The mid-edge nodes as read are at the
midpoints of the edges that their position names in VTK's order (meshio puts
gmsh's 15- and 13-node cells in VTK's edge order; gmsh writes C3D15 and C3D13 and
MED's P15 and P13 in that edge order too), so each permutation is the reflection
that reverses the corner order and carries the mid-edge nodes along. VTK (9.2)
agrees on the ``.msh`` and MED files: ``vtkCellSizeFilter`` gives the cells as
permuted positive volumes summing to the box's (as read: negative for the wedges of
``.msh`` and the pyramids of MED).

* gmsh ``.msh``: wedges (6 and 15 nodes) are reflected (gmsh numbers its prism with
  the triangle (0, 1, 2) counterclockwise seen from (3, 4, 5), and meshio does not
  reorder the corners); pyramids (5 and 13 nodes): none.
* MED: wedges (PE6, P15): none; pyramids (PY5, P13) reflected, like MED's
  tetrahedra and hexahedra (meshio reads MED's own order).
* Abaqus ``.inp`` written by gmsh: ``C3D6`` and ``C3D15`` reflected (gmsh's
  handedness, Abaqus' edge order); ``C3D5`` and ``C3D13``: none. meshio 5.0's Abaqus
  reader does not know ``C3D5`` or ``C3D13`` (the project reads decks itself:
  :mod:`rom.io.abaqus`) and returns C3D6/C3D15 in file order. The same reflection
  takes MED's (SMESH's) pentahedra to CalculiX's C3D6/C3D15 in FreeCAD's CalculiX
  writer (FreeCAD wiki, "FEM Mesh CalculiX"), so it holds for decks not written by
  gmsh too.

meshio 5.0 also lacks the topological dimension of ``wedge15`` and ``pyramid13``:
building any mesh with them (reading a gmsh, MED or Abaqus file, or writing one)
raises ``KeyError: 'wedge15'``. :func:`register_meshio_cell_types` adds them (and the
Abaqus names of the pyramids, for its writer). Its XDMF reader knows the node counts
of linear cells only in a "Mixed" topology (a local table): an XDMF mesh of mixed
quadratic cells cannot be read through meshio (:func:`rom.io.meshfile.read_mesh_file`
says so).
"""

import numpy as np

__all__ = ["PERMUTATIONS", "permutation", "to_our_order", "register_meshio_cell_types"]

# corner reflections that keep node 0: the wedge's triangles (0, 2, 1), (3, 5, 4); the
# pyramid's base (0, 3, 2, 1); the mid-edge nodes follow their edges
_WEDGE_REFLECTED = (0, 2, 1, 3, 5, 4)
_WEDGE15_REFLECTED = _WEDGE_REFLECTED + (8, 7, 6, 11, 10, 9, 12, 14, 13)
_PYRAMID_REFLECTED = (0, 3, 2, 1, 4)
_PYRAMID13_REFLECTED = _PYRAMID_REFLECTED + (8, 7, 6, 5, 9, 12, 11, 10)

# format -> meshio cell type -> perm: cells_ours = cells_as_read[:, perm]
PERMUTATIONS = {
    "gmsh": {"wedge": _WEDGE_REFLECTED, "wedge15": _WEDGE15_REFLECTED},
    "med": {"pyramid": _PYRAMID_REFLECTED, "pyramid13": _PYRAMID13_REFLECTED},
    "abaqus": {"wedge": _WEDGE_REFLECTED, "wedge15": _WEDGE15_REFLECTED},
}


def permutation(file_format, cell_type):
    """``perm`` putting the ``cell_type`` cells of ``file_format`` (``"gmsh"``,
    ``"med"``, ``"abaqus"``) as read into our order, or None when they are in it."""
    return PERMUTATIONS.get(file_format, {}).get(cell_type)


def to_our_order(file_format, cell_type, cells):
    """``cells (n, n_nodes)`` of ``cell_type`` read from ``file_format``, in our order
    (the same array when no permutation is needed)."""
    p = permutation(file_format, cell_type)
    return cells if p is None else np.asarray(cells)[:, p]


def register_meshio_cell_types():
    """Give meshio the topological dimension of ``wedge15`` and ``pyramid13`` when it
    lacks them (meshio 5.0), so that meshes with these cells can be read and written,
    and its Abaqus writer the names of the pyramids (``C3D5``, ``C3D13``), which it
    lacks too. Idempotent."""
    import meshio._mesh
    import meshio.abaqus._abaqus as abaqus

    for name in ("wedge15", "pyramid13"):
        meshio._mesh.topological_dimension.setdefault(name, 3)
    for name, abaqus_name in (("pyramid", "C3D5"), ("pyramid13", "C3D13")):
        abaqus.meshio_to_abaqus_type.setdefault(name, abaqus_name)
