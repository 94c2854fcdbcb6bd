"""Input/output at the edges: meshio (meshes), HDF5 results, XDMF for ParaView."""
