"""Generate the plate_hole case's mesh with gmsh (Python API, OpenCASCADE kernel).

    python meshes/make_plate_hole.py [--size 0.8] [--hole-size 0.2] [--out DIR]

One eighth of a plate 20 x 10 x 2 mm with a central hole of diameter 3 mm (three
symmetry planes): the box [0, 10] x [0, 5] x [0, 1] minus the cylinder of radius 1.5
about the z axis, quadratic tetrahedra (tet10, curved hole surface), refined towards
the hole. Physical groups: volume ``plate``; surfaces ``sym_x`` (x = 0), ``sym_y``
(y = 0), ``sym_z`` (z = 0), ``load`` (x = 10), ``hole``. Written as gmsh 4.1
``meshes/plate_hole.msh`` (read by meshio, groups included).
"""

import argparse
import os

HERE = os.path.dirname(os.path.abspath(__file__))

LENGTH, WIDTH, THICKNESS, RADIUS = 10.0, 5.0, 1.0, 1.5  # the modelled eighth [mm]


def make(path, size=0.8, hole_size=0.2, order=2):
    """Mesh the plate into ``path``; returns (number of nodes, number of tetrahedra)."""
    import gmsh

    gmsh.initialize(["-noenv"])
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("plate_hole")
        occ = gmsh.model.occ
        box = occ.addBox(0, 0, 0, LENGTH, WIDTH, THICKNESS)
        hole = occ.addCylinder(0, 0, -1, 0, 0, THICKNESS + 2, RADIUS)
        (vol,), _ = occ.cut([(3, box)], [(3, hole)])
        occ.synchronize()
        eps = 1e-6
        groups = {"sym_x": (0, 0), "sym_y": (1, 0), "sym_z": (2, 0), "load": (0, LENGTH)}
        surfaces = gmsh.model.getBoundary([vol], oriented=False)
        tags = {name: [] for name in (*groups, "hole")}
        for _, tag in surfaces:
            xmin, ymin, zmin, xmax, ymax, zmax = gmsh.model.getBoundingBox(2, tag)
            lo, hi = (xmin, ymin, zmin), (xmax, ymax, zmax)
            for name, (axis, value) in groups.items():
                if abs(lo[axis] - value) < eps and abs(hi[axis] - value) < eps:
                    tags[name].append(tag)
                    break
            else:
                if abs(lo[2]) < eps and abs(hi[2] - THICKNESS) < eps and hi[0] <= RADIUS + eps:
                    tags["hole"].append(tag)
        for name, t in tags.items():
            if len(t) != 1:
                raise RuntimeError(f"plate_hole geometry: surface '{name}' found {len(t)} times")
            gmsh.model.addPhysicalGroup(2, t, name=name)
        gmsh.model.addPhysicalGroup(3, [vol[1]], name="plate")
        # size: hole_size on the hole, growing linearly to size at 4 radii
        fd = gmsh.model.mesh.field
        dist = fd.add("Distance")
        fd.setNumbers(dist, "SurfacesList", tags["hole"])
        th = fd.add("Threshold")
        fd.setNumber(th, "InField", dist)
        fd.setNumber(th, "SizeMin", hole_size)
        fd.setNumber(th, "SizeMax", size)
        fd.setNumber(th, "DistMin", 0.0)
        fd.setNumber(th, "DistMax", 3 * RADIUS)
        fd.setAsBackgroundMesh(th)
        for opt in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints",
                    "MeshSizeFromCurvature"):
            gmsh.option.setNumber(f"Mesh.{opt}", 0)
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(order)
        gmsh.model.mesh.optimize("HighOrder")
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.write(path)
        nodes = gmsh.model.mesh.getNodes()[0]
        types, elems, _ = gmsh.model.mesh.getElements(3)
        return len(nodes), sum(len(e) for e in elems)
    finally:
        gmsh.finalize()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=float, default=0.8, help="element size far from the hole")
    p.add_argument("--hole-size", type=float, default=0.2, help="element size on the hole")
    p.add_argument("--out", default=HERE)
    args = p.parse_args()
    path = os.path.join(args.out, "plate_hole.msh")
    n_nodes, n_cells = make(path, args.size, args.hole_size)
    print(f"wrote {path}: {n_nodes} nodes, {n_cells} tet10")


if __name__ == "__main__":
    main()
