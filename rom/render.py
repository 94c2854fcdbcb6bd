"""Pictures of results with ParaView (``pvbatch``, headless under ``xvfb-run``): what
the users see when they open the same XDMF in ParaView, and a ParaView state file
(``.pvsm``) that opens the same view in the GUI.

``render(xdmf, out_dir)`` writes ``<out_dir>/<field>.png`` for each field (point or
cell arrays of the result: by default the temperature ``T``, the nodal von Mises
stress and the nodal cumulated plasticity when present) at one step (the last by
default), and ``<out_dir>/view.pvsm``. With ``compare`` (a second result, e.g. the HF
reference of a ROM run), each field is rendered for both with the same color range
and the two pictures are put side by side (``<field>_compare.png``).
"""

import json
import os
import shutil
import subprocess
import tempfile

from rom import RomError

__all__ = ["render", "DEFAULT_FIELDS"]

DEFAULT_FIELDS = ("T", "von_mises_nodal", "p_nodal")
TITLES = {"T": "temperature [C]", "von_mises_nodal": "von Mises stress [MPa]",
          "p_nodal": "cumulated plasticity p", "von_mises": "von Mises stress [MPa] (cells)",
          "p": "cumulated plasticity p (cells)", "U": "displacement [mm]"}
_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "io", "paraview_script.py")


def _pvbatch():
    """The command prefix that runs pvbatch headless; :class:`rom.RomError` if missing."""
    if not shutil.which("pvbatch"):
        raise RomError("ParaView's pvbatch is not installed: install the Debian packages "
                       "paraview and xvfb ('make paraview' does)")
    if os.environ.get("DISPLAY") or not shutil.which("xvfb-run"):
        if not os.environ.get("DISPLAY"):
            raise RomError("no display and no xvfb-run to render headless: install the "
                           "Debian package xvfb ('make paraview' does)")
        return ["pvbatch"]
    return ["xvfb-run", "-a", "pvbatch"]


def _run(spec, work):
    """Run the pvbatch script on ``spec``; returns ``(arrays, ranges)`` it printed."""
    path = os.path.join(work, f"spec_{len(os.listdir(work))}.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    # pvbatch initializes MPI itself: not inside this process's MPI job (mpirun's
    # variables would make it join a job that does not expect it)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OMPI_COMM_WORLD", "PMIX_", "PMI_", "OMPI_MCA_orte",
                                "OMPI_MCA_ess", "OMPI_FILE_LOCATION", "OMPI_UNIVERSE"))}
    for _ in range(3):  # a loaded machine's Xvfb may not answer its first client
        proc = subprocess.run(_pvbatch() + [_SCRIPT, path], capture_output=True, text=True,
                              timeout=600, env=env)
        if "bad X server connection" not in proc.stderr:
            break
    arrays = {}
    ranges = {}
    for line in proc.stdout.splitlines():
        if line.startswith("ARRAYS "):
            p, c = line[7:].split(" cell=")
            arrays = {"point": json.loads(p[len("point="):]), "cell": json.loads(c)}
        elif line.startswith("RANGE "):
            _, name, lo, hi = line.split()
            ranges[name] = [float(lo), float(hi)]
    if proc.returncode == 3:
        have = ", ".join(arrays.get("point", []) + arrays.get("cell", [])) or "none"
        missing = [f for f in spec["fields"]
                   if f not in arrays.get("point", []) + arrays.get("cell", [])]
        raise RomError(f"{spec['xdmf']} has no array {', '.join(missing)} (it has: {have})")
    if proc.returncode:
        raise RomError(f"pvbatch failed on {spec['xdmf']} (status {proc.returncode}): "
                       + (proc.stderr.strip().splitlines() or ["no message"])[-1])
    return arrays, ranges


def _available(xdmf):
    """Point and cell array names of the XDMF (read from its XML)."""
    from xml.etree import ElementTree as ET

    try:
        root = ET.parse(xdmf).getroot()
    except (OSError, ET.ParseError) as exc:
        raise RomError(f"cannot read XDMF file {xdmf}: {exc}") from None
    return {a.get("Name") for a in root.iter("Attribute")}


def render(xdmf, out_dir, fields=None, time=None, compare=None, warp=0.0, size=(900, 700),
           camera="pressure", labels=("ROM", "HF")):
    """Render ``fields`` of the result ``xdmf`` at ``time`` (None: the last step) into
    ``out_dir``; returns ``{field: png path}`` (the side-by-side pictures with
    ``compare``) and the state file's path under ``"state"``. ``fields`` None: those of
    :data:`DEFAULT_FIELDS` the result has. ``warp``: displacement magnification (0:
    undeformed). ``camera``: "pressure", "suction" (the blade's sides) or "iso"."""
    xdmf = os.path.abspath(xdmf)  # ParaView's XDMF reader wants absolute paths
    if not os.path.isfile(xdmf):
        raise RomError(f"result file not found: {xdmf}")
    names = _available(xdmf)
    if fields is None:
        fields = [f for f in DEFAULT_FIELDS if f in names]
        if not fields:
            raise RomError(f"{xdmf} has none of the fields {', '.join(DEFAULT_FIELDS)}; "
                           "name them with --fields")
    fields = list(fields)
    os.makedirs(out_dir, exist_ok=True)
    out_dir = os.path.abspath(out_dir)
    spec = {"xdmf": xdmf, "fields": fields, "time": time, "warp": warp, "size": list(size),
            "camera": camera, "titles": {f: TITLES.get(f, f) for f in fields}, "range": {},
            "out": {f: os.path.join(out_dir, f"{f}.png") for f in fields},
            "state": os.path.join(out_dir, "view.pvsm")}
    with tempfile.TemporaryDirectory() as work:
        if compare is None:
            _run(spec, work)
            return dict(spec["out"], state=spec["state"])
        other = os.path.abspath(compare)
        if not os.path.isfile(other):
            raise RomError(f"result file not found: {other}")
        _, r1 = _run(dict(spec, state=None,
                          out={f: os.path.join(work, f"a_{f}.png") for f in fields}), work)
        _, r2 = _run(dict(spec, xdmf=other, state=None,
                          out={f: os.path.join(work, f"b_{f}.png") for f in fields}), work)
        common = {f: [min(r1[f][0], r2[f][0]), max(r1[f][1], r2[f][1])] for f in fields}
        _run(dict(spec, range=common), work)  # the first result alone, and its state
        _run(dict(spec, xdmf=other, range=common, state=None,
                  out={f: os.path.join(work, f"b_{f}.png") for f in fields}), work)
        out = {}
        for f in fields:
            out[f] = os.path.join(out_dir, f"{f}_compare.png")
            _side_by_side(spec["out"][f], os.path.join(work, f"b_{f}.png"), out[f], labels)
    return dict(out, state=spec["state"])


def _side_by_side(left, right, out, labels):
    """Two pictures in one, with a label over each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = plt.imread(left), plt.imread(right)
    fig, axes = plt.subplots(1, 2, figsize=((a.shape[1] + b.shape[1]) / 100,
                                             max(a.shape[0], b.shape[0]) / 100 + 0.4))
    for ax, img, label in zip(axes, (a, b), labels):
        ax.imshow(img)
        ax.set_title(label)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
