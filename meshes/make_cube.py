"""Generate the default cube case's mesh and its temperature fields.

    python meshes/make_cube.py [--n 6]

Writes ``meshes/cube.msh`` (unit cube, n^3 hex20 cells, gmsh 2.2 with the side
groups xmin ... zmax) and ``meshes/cube_T_<name>.npy``: hot fields from a steady heat
conduction computation (``rom.thermal``: Gaussian heat source, x = 0 held at 20 C),
scaled to the given maximum temperature.
"""

import argparse
import os

import numpy as np

from rom.io.meshfile import write_mesh_file
from rom.meshgen import box_mesh
from rom.thermal import steady_temperature

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (heat source centre, radius, maximum temperature [C])
HOT_FIELDS = {
    "a": ((0.7, 0.5, 0.5), 0.30, 500.0),
    "b": ((0.5, 0.3, 0.7), 0.30, 600.0),
    "c": ((0.6, 0.7, 0.3), 0.35, 450.0),
    "test": ((0.65, 0.55, 0.45), 0.30, 550.0),
    "hot": ((0.8, 0.8, 0.8), 0.25, 900.0),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--out", default=HERE)
    args = p.parse_args()
    data = box_mesh((args.n,) * 3, (1.0, 1.0, 1.0), "hexahedron20")
    write_mesh_file(os.path.join(args.out, "cube.msh"), data)
    for name, (center, radius, t_max) in HOT_FIELDS.items():
        T = steady_temperature(data, data.node_groups["xmin"], 20.0, center, radius, 1.0)
        T = 20.0 + (T - 20.0) * (t_max - 20.0) / (T.max() - 20.0)
        np.save(os.path.join(args.out, f"cube_T_{name}.npy"), T)
    print(f"wrote cube.msh ({data.n_nodes} nodes) and {len(HOT_FIELDS)} temperature fields")


if __name__ == "__main__":
    main()
