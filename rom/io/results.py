"""Results of a solve as HDF5 + XDMF time series (global numbering), for ParaView.

Layout of ``<dir>/<name>.h5``::

    /mesh/points (n_nodes, 3)           /mesh/cells/<type> (n_cells, k)
    /time (n_steps,)
    /steps/<k>/<field> (n_nodes, k) or (n_cells, k)   nodal or cell fields of step k
    attrs: format, format_version, case_text, code_version, completed_steps

with ``<dir>/<name>.xdmf`` next to it. Symmetric tensors are stored in the XDMF
``Tensor6`` order ``(xx, xy, xz, yy, yz, zz)`` (physical components, not Mandel).
The values of all ranks are gathered on rank 0, which writes and flushes the file
after every step, so a killed run keeps every completed step.
"""

import os

import numpy as np

from rom.fem.kernels import SQ2
from rom.io.xdmf import write_xdmf

__all__ = ["ResultsWriter", "mandel_to_tensor6", "FORMAT_VERSION"]

FORMAT_VERSION = 1


def mandel_to_tensor6(a):
    """Mandel ``(..., 6)`` -> XDMF Tensor6 ``(xx, xy, xz, yy, yz, zz)``."""
    a = np.asarray(a)
    return np.stack([a[..., 0], a[..., 5] / SQ2, a[..., 4] / SQ2, a[..., 1], a[..., 3] / SQ2,
                     a[..., 2]], axis=-1)


class ResultsWriter:
    """Collective. Write a time series of nodal and cell fields.

    Parameters
    ----------
    out_dir : str
    name : str
        Base name of the ``.h5`` and ``.xdmf`` files.
    mesh : rom.mesh.Mesh
    attrs : dict
        Extra file attributes (e.g. the case text).
    """

    def __init__(self, out_dir, name, mesh, attrs=None):
        self.mesh = mesh
        self.comm = mesh.comm
        self.h5_path = os.path.join(out_dir, name + ".h5")
        self.xdmf_path = os.path.join(out_dir, name + ".xdmf")
        self.steps = []
        self.file = None
        if self.comm.rank == 0:
            import h5py

            from rom import __version__

            os.makedirs(out_dir, exist_ok=True)
            data = mesh.data
            self.file = h5py.File(self.h5_path, "w")
            self.file.attrs["format"] = "rom-results"
            self.file.attrs["format_version"] = FORMAT_VERSION
            self.file.attrs["code_version"] = __version__
            self.file.attrs["completed_steps"] = 0
            for k, v in (attrs or {}).items():
                self.file.attrs[k] = v
            self.file["mesh/points"] = data.points
            self.file[f"mesh/cells/{data.cell_type}"] = data.cells
            self.file.create_dataset("time", shape=(0,), maxshape=(None,), dtype=float)
            self.file.flush()

    def _gather(self, ids, values, n_global):
        """Collective. Global array ``(n_global, k)`` on rank 0 (None elsewhere)."""
        values = np.asarray(values, dtype=float)
        parts = self.comm.gather((np.asarray(ids), values), root=0)
        if self.comm.rank != 0:
            return None
        out = np.empty((n_global,) + values.shape[1:])
        for i, v in parts:
            out[i] = v
        return out

    def write_step(self, t, nodal=None, cell=None):
        """Collective. Append one step.

        ``nodal``: name -> owned-node values ``(n_owned_nodes[, k])``;
        ``cell``: name -> local-cell values ``(n_local_cells[, k])``; 6-component cell
        fields are taken as Mandel tensors and written as Tensor6.
        """
        mesh = self.mesh
        gathered = []
        for name, v in (nodal or {}).items():
            g = self._gather(mesh.node_ids[: mesh.n_owned], v, mesh.n_nodes_global)
            gathered.append((name, "Node", g))
        for name, v in (cell or {}).items():
            v = np.asarray(v)
            if v.ndim == 2 and v.shape[1] == 6:
                v = mandel_to_tensor6(v)
            g = self._gather(mesh.cell_ids, v, mesh.n_cells_global)
            gathered.append((name, "Cell", g))
        if self.comm.rank == 0:
            k = len(self.steps)
            f = self.file
            attrs = []
            for name, center, g in gathered:
                path = f"steps/{k}/{name}"
                f[path] = g
                attrs.append((name, center, g.shape, "/" + path))
            f["time"].resize((k + 1,))
            f["time"][k] = t
            f.attrs["completed_steps"] = k + 1
            f.flush()
            self.steps.append((t, attrs))
            data = mesh.data
            write_xdmf(self.xdmf_path, self.h5_path, data.cell_type, data.n_nodes,
                       data.cells.shape, self.steps)

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None
