"""Input/output at the edges: meshio (meshes), HDF5 results, XDMF for ParaView, and
the readers of other solvers' results.

Every result reader returns :class:`rom.io.results.NodalResults`; the table
``RESULT_FORMATS`` maps a format name to its reader (module, function) and the file
extensions it is guessed from.
"""

import importlib
import os

from rom import RomError

# format -> (module, reader function, extensions)
RESULT_FORMATS = {
    "frd": ("rom.io.frd", "read_frd", (".frd",)),
    "xdmf": ("rom.io.series", "read_xdmf_series", (".xdmf", ".xmf")),
    "vtu": ("rom.io.series", "read_vtu_series", (".pvd", ".vtu")),
    "zset": ("rom.io.zset", "read_zset", (".ut",)),
}


def result_format(path, fmt=None):
    """The format of result file ``path``: ``fmt`` when given (checked), else guessed
    from its extension. Raises :class:`rom.RomError` when neither names a known one."""
    if fmt is None:
        ext = os.path.splitext(path)[1].lower()
        fmt = next((k for k, (_, _, exts) in RESULT_FORMATS.items() if ext in exts), None)
        if fmt is None:
            raise RomError(f"{path}: cannot tell the result format from the extension "
                           f"'{ext}' (known formats: {', '.join(RESULT_FORMATS)}; give one)")
    elif fmt not in RESULT_FORMATS:
        raise RomError(f"{path}: unknown result format '{fmt}' (known: "
                       f"{', '.join(RESULT_FORMATS)})")
    return fmt


def read_results(path, fmt=None):
    """Serial. Read another solver's result file ``path`` (format ``fmt`` or guessed
    from the extension): :class:`rom.io.results.NodalResults`."""
    module, func, _ = RESULT_FORMATS[result_format(path, fmt)]
    return getattr(importlib.import_module(module), func)(path)
