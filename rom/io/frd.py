"""CalculiX ``.frd`` results (ASCII, short or long format, and binary), read by hand:
no library in the stack reads them.

The layout is CalculiX GraphiX's result format (cgx manual, "Result Format"): a
nodal point coordinate block (``2C``), an element block (``3C``, skipped), then one
nodal results block (``100C``) per output time and dataset; ``DISP`` gives the
displacements (``D1``..``D3``) and ``NDTEMP`` the temperatures. In ASCII the records
are fixed-width Fortran fields (``-1`` node records of 6 values of 12 characters per
line, continued by ``-2`` records); in binary (format 2, or 3 for double
coordinates) the data records of a block follow its header lines as C ``int``
node numbers and ``float`` (or ``double``) values, without the ``-3`` end record.
"""

import os

import numpy as np

from rom import RomError
from rom.io.results import NodalResults

# nodes per element of the frd element types (he8, pe6, te4, he20, pe15, te10, tr3, tr6,
# qu4, qu8, be2, be3)
_ELEMENT_NODES = {1: 8, 2: 6, 3: 4, 4: 20, 5: 15, 6: 10, 7: 3, 8: 6, 9: 4, 10: 8, 11: 2,
                  12: 3}


class _Reader:
    """A cursor over the bytes of an frd file: text lines and binary payloads."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        self.pos = 0
        self.line_no = 0

    def error(self, what):
        at_end = self.pos >= len(self.data) and "truncated" not in what
        return RomError(f"{self.path}, line {self.line_no}: {what}"
                        + (" (the file ends there: truncated?)" if at_end else ""))

    def line(self):
        """The next text line (without its end), or None at the end of the file."""
        if self.pos >= len(self.data):
            return None
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end
        text = self.data[self.pos:end].rstrip(b"\r").decode("latin-1")
        self.pos = end + 1
        self.line_no += 1
        return text

    def binary(self, dtype, count, what):
        """``count`` records of the numpy structured ``dtype``."""
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.data):
            raise self.error(f"the file ends inside the binary {what} ({count} records "
                             "expected): truncated?")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += size
        return out


def _int(text, reader, what):
    try:
        return int(text)
    except ValueError:
        raise reader.error(f"cannot read {what} from '{text.strip()}'") from None


def _floats(text, width, reader):
    """The fixed-width reals of ``text`` (fields of ``width`` characters)."""
    try:
        return [float(text[i:i + width]) for i in range(0, len(text.rstrip()), width)]
    except ValueError:
        raise reader.error(f"cannot read the values of '{text.strip()}'") from None


def _ascii_records(reader, n_values, long):
    """``(node ids, values (n, n_values))`` of the ``-1`` (and ``-2``) records up to
    the ``-3`` record of an ASCII block."""
    w = 10 if long else 5
    ids, rows = [], []
    while True:
        line = reader.line()
        if line is None:
            raise reader.error("the file ends inside a block (no -3 record): truncated?")
        key = line[1:3]
        if key == "-3":
            break
        if key == "-1":
            ids.append(_int(line[3:3 + w], reader, "a node number"))
            rows.append(_floats(line[3 + w:], 12, reader))
        elif key == "-2" and rows:
            rows[-1] += _floats(line[3 + w:], 12, reader)
        else:
            raise reader.error(f"unexpected record '{line.strip()[:40]}' in a data block")
        if len(rows[-1]) > n_values:
            raise reader.error(f"{len(rows[-1])} values for node {ids[-1]}, "
                               f"{n_values} expected")
    bad = [i for i, r in zip(ids, rows) if len(r) != n_values]
    if bad:
        raise reader.error(f"node {bad[0]} has fewer than {n_values} values")
    return np.array(ids, dtype=np.int64), np.array(rows, dtype=float).reshape(-1, n_values)


def _skip_elements(reader, header):
    """Skip an element block (``3C``) after its header line."""
    fmt = _int(header[73:75] or "0", reader, "the format of the element block")
    if fmt >= 2:
        count = _int(header[24:36], reader, "the number of elements")
        for _ in range(count):
            e = reader.binary("<i4", 4, "element block")
            n = _ELEMENT_NODES.get(int(e[1]))
            if n is None:
                raise reader.error(f"unknown element type {int(e[1])} in the binary "
                                   "element block")
            reader.binary("<i4", n, "element block")
        return
    while True:
        line = reader.line()
        if line is None:
            raise reader.error("the file ends inside the element block: truncated?")
        if line[1:3] == "-3":
            return


def _nodes(reader, header):
    count = _int(header[24:36], reader, "the number of nodes")
    fmt = _int(header[73:75] or "0", reader, "the format of the node block")
    if fmt in (2, 3):
        real = "<f4" if fmt == 2 else "<f8"
        rec = reader.binary(np.dtype([("id", "<i4"), ("x", real, 3)]), count, "node block")
        return rec["id"].astype(np.int64), rec["x"].astype(float)
    ids, xyz = _ascii_records(reader, 3, fmt == 1)
    if len(ids) != count:
        raise reader.error(f"the node block has {len(ids)} nodes, its header {count}")
    return ids, xyz


def _results(reader, header):
    """``(name, time, {component: values}, node ids)`` of a ``100C`` block."""
    time = _floats(header[12:24], 12, reader)[0]
    count = _int(header[24:36], reader, "the number of nodes of a result block")
    fmt = _int(header[73:75] or "0", reader, "the format of a result block")
    line = reader.line()
    if line is None or line[1:3] != "-4":
        raise reader.error("a result block without its -4 record")
    name = line[5:13].strip()
    n_ent = _int(line[13:18], reader, "the number of entities")
    comps = []
    for _ in range(n_ent):
        line = reader.line()
        if line is None or line[1:3] != "-5":
            raise reader.error(f"result block {name}: {n_ent} -5 records expected")
        exist = line[33:38].strip()
        if not exist or int(exist) != 1:  # 1: computed by cgx (e.g. ALL), no data
            comps.append(line[5:13].strip())
    if fmt >= 2:
        rec = reader.binary(np.dtype([("id", "<i4"), ("v", "<f4", len(comps))]), count,
                            f"result block {name}")
        ids, values = rec["id"].astype(np.int64), rec["v"].astype(float).reshape(count, -1)
    else:
        ids, values = _ascii_records(reader, len(comps), fmt == 1)
        if len(ids) != count:
            raise reader.error(f"result block {name} has {len(ids)} nodes, its header "
                               f"{count}")
    return name, time, dict(zip(comps, values.T)), ids


def read_frd(path):
    """Read a CalculiX ``.frd`` file: :class:`rom.io.results.NodalResults` with the
    nodes, the times of its ``DISP`` blocks, the displacements and, when every such
    time also has an ``NDTEMP`` block, the temperatures. Raises
    :class:`rom.RomError` naming the file and line for a missing file, a truncated or
    malformed block, or a file without displacements."""
    if not os.path.isfile(path):
        raise RomError(f"result file not found: {path}")
    reader = _Reader(path)
    ids = xyz = None
    disp, temp = {}, {}
    ended = False
    while True:
        line = reader.line()
        if line is None:
            break
        if line.strip() == "9999":
            ended = True
            break
        code = line[:6].strip()
        if code == "2C":
            ids, xyz = _nodes(reader, line)
        elif code == "3C":
            _skip_elements(reader, line)
        elif line[1:6] == " 100C":
            if ids is None:
                raise reader.error("a result block before the node block")
            name, t, comps, rids = _results(reader, line)
            if name == "DISP":
                if not {"D1", "D2", "D3"} <= set(comps):
                    raise reader.error("a DISP block without D1, D2, D3")
                disp[t] = (rids, np.stack([comps["D1"], comps["D2"], comps["D3"]], axis=1))
            elif name == "NDTEMP":
                temp[t] = (rids, comps["T"])
    if not ended:
        raise RomError(f"{path}: no end record (9999): truncated?")
    if ids is None or not disp:
        raise RomError(f"{path}: no " + ("node block" if ids is None else
                                         "displacements (DISP blocks; *NODE FILE with U)"))
    where = {int(i): k for k, i in enumerate(ids)}
    times = np.array(sorted(disp))

    def nodal(blocks, shape):
        out = np.zeros((len(times), len(ids)) + shape)
        for k, t in enumerate(times):
            rids, v = blocks[t]
            try:
                rows = [where[int(i)] for i in rids]
            except KeyError as exc:
                raise RomError(f"{path}: results at t = {t:g} for node {exc.args[0]}, "
                               "which the node block does not have") from None
            if len(rows) != len(ids):
                raise RomError(f"{path}: results at t = {t:g} for {len(rows)} of the "
                               f"{len(ids)} nodes")
            out[k][rows] = v.reshape((len(rows),) + shape)
        return out

    temperature = nodal(temp, ()) if all(t in temp for t in times) else None
    return NodalResults(source=path, node_ids=ids, points=xyz, times=times,
                        displacement=nodal(disp, (3,)), temperature=temperature)
