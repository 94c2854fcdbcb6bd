"""Generate the default cube case's mesh and its temperature fields.

    python meshes/make_cube.py [--n 6]

Writes ``meshes/cube.msh`` (unit cube, n^3 hex20 cells, gmsh 2.2 with the side
groups xmin ... zmax) and ``meshes/cube_T_<name>.npy``: hot fields from a steady heat
conduction computation (``rom.thermal``: Gaussian heat source ``exp(-|x - c|^2 / r^2)``,
unit conductivity, x = 0 held at 20 C), scaled to the given maximum temperature.
"""

import argparse
import os

import numpy as np

from rom.io.meshfile import write_mesh_file
from rom.mesh import load_mesh
from rom.meshgen import box_mesh
from rom.thermal import FixedTemperature, ThermalModel, solve_steady

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (heat source centre, radius, maximum temperature [C])
HOT_FIELDS = {
    "a": ((0.7, 0.5, 0.5), 0.30, 500.0),
    "b": ((0.5, 0.3, 0.7), 0.30, 600.0),
    "c": ((0.6, 0.7, 0.3), 0.35, 450.0),
    "test": ((0.65, 0.55, 0.45), 0.30, 550.0),
    "hot": ((0.8, 0.8, 0.8), 0.25, 900.0),
}


def temperature_field(data, name, comm=None):
    """Collective. The global nodal field ``(n_nodes,)`` of ``HOT_FIELDS[name]`` on the
    :class:`rom.mesh.MeshData` ``data`` (every rank gets it)."""
    from mpi4py import MPI

    comm = comm or MPI.COMM_WORLD
    (cx, cy, cz), radius, t_max = HOT_FIELDS[name]
    mesh = load_mesh(data, comm)
    source = f"exp(-((x - {cx})**2 + (y - {cy})**2 + (z - {cz})**2) / {radius}**2)"
    model = ThermalModel(mesh, 1.0, source=source)
    T, _ = solve_steady(model, [FixedTemperature("xmin", 20.0)])
    full = model.dofmap.gather_nodal(T)[:, 0]
    return 20.0 + (full - 20.0) * (t_max - 20.0) / (full.max() - 20.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--out", default=HERE)
    args = p.parse_args()
    data = box_mesh((args.n,) * 3, (1.0, 1.0, 1.0), "hexahedron20")
    write_mesh_file(os.path.join(args.out, "cube.msh"), data)
    for name in HOT_FIELDS:
        np.save(os.path.join(args.out, f"cube_T_{name}.npy"), temperature_field(data, name))
    print(f"wrote cube.msh ({data.n_nodes} nodes) and {len(HOT_FIELDS)} temperature fields")


if __name__ == "__main__":
    main()
