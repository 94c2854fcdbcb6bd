"""pvbatch script of :mod:`rom.render` (runs in ParaView's Python, not in the package's).

Usage: pvbatch paraview_script.py SPEC.json

``SPEC`` holds: ``xdmf`` (absolute path), ``fields`` (names of point or cell arrays),
``time`` (a time value, or null for the last step), ``range`` (``{field: [lo, hi]}``
or empty: the data range), ``warp`` (displacement scale, 0: none), ``size`` ([w, h]),
``camera`` ("pressure", "suction", "iso"), ``out`` (``{field: png path}``), ``state``
(a ``.pvsm`` path or null). Prints ``ARRAYS point=[...] cell=[...]`` and ``RANGE field
lo hi``; exits with status 3 when a field is missing.
"""

import json
import sys

from paraview import simple as pv

with open(sys.argv[1]) as f:
    spec = json.load(f)
reader = pv.XDMFReader(FileNames=[spec["xdmf"]])
reader.UpdatePipeline()
times = list(reader.TimestepValues) if reader.TimestepValues else [0.0]
t = times[-1] if spec.get("time") is None else min(times, key=lambda v: abs(v - spec["time"]))
point, cell = list(reader.PointData.keys()), list(reader.CellData.keys())
print("ARRAYS point=%s cell=%s" % (json.dumps(point), json.dumps(cell)))
print("TIME %r" % t)
missing = [f for f in spec["fields"] if f not in point and f not in cell]
if missing:
    print("MISSING %s" % json.dumps(missing))
    sys.exit(3)
source = reader
if spec.get("warp") and "U" in point:
    source = pv.WarpByVector(Input=reader)
    source.Vectors = ["POINTS", "U"]
    source.ScaleFactor = spec["warp"]
view = pv.GetActiveViewOrCreate("RenderView")
view.ViewSize = spec["size"]
view.ViewTime = t
view.OrientationAxesVisibility = 1
view.Background = [1.0, 1.0, 1.0]
try:  # ParaView >= 5.10: the background is the palette's unless told otherwise
    view.UseColorPaletteForBackground = 0
except AttributeError:
    pass
display = pv.Show(source, view)
directions = {"pressure": ([0.0, 1.0, 0.35], [0.0, 0.0, 1.0]),
              "suction": ([0.0, -1.0, 0.35], [0.0, 0.0, 1.0]),
              "iso": ([1.0, -1.0, 0.8], [0.0, 0.0, 1.0])}
previous = None
for field in spec["fields"]:
    assoc = "POINTS" if field in point else "CELLS"
    if previous is not None:  # one color bar per picture
        pv.GetScalarBar(previous, view).Visibility = 0
    pv.ColorBy(display, (assoc, field))
    lut = pv.GetColorTransferFunction(field)
    data = (reader.PointData if assoc == "POINTS" else reader.CellData)[field]
    comp = -1
    if data.GetNumberOfComponents() > 1:
        lut.VectorMode = "Magnitude"
    lo, hi = spec.get("range", {}).get(field) or data.GetRange(comp)
    if hi <= lo:
        hi = lo + 1e-12
    lut.RescaleTransferFunction(lo, hi)
    print("RANGE %s %r %r" % (field, lo, hi))
    display.SetScalarBarVisibility(view, True)
    bar = pv.GetScalarBar(lut, view)
    bar.Title = spec.get("titles", {}).get(field, field)
    bar.ComponentTitle = ""
    bar.TitleColor = bar.LabelColor = [0.0, 0.0, 0.0]
    position, up = directions.get(spec.get("camera", "pressure"), directions["pressure"])
    view.CameraFocalPoint = [0.0, 0.0, 0.0]
    view.CameraPosition = position
    view.CameraViewUp = up
    view.ResetCamera()
    pv.Render(view)
    pv.SaveScreenshot(spec["out"][field], view, ImageResolution=spec["size"])
    previous = lut
if spec.get("state"):
    pv.SaveState(spec["state"])
