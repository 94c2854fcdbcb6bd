"""pvbatch script: open a results XDMF, print its arrays, render the von Mises stress
on the displacement-warped mesh to a PNG.

Usage: xvfb-run -a pvbatch paraview_render.py /abs/path/solution.xdmf out.png
"""

import sys

from paraview import simple as pv

reader = pv.XDMFReader(FileNames=[sys.argv[1]])
reader.UpdatePipeline()
print("times", reader.TimestepValues)
print("point arrays", reader.PointData.keys(), "cell arrays", reader.CellData.keys())
print("sigma range", reader.CellData["sigma"].GetRange(-1),
      "U range", reader.PointData["U"].GetRange(-1))
warp = pv.WarpByVector(Input=reader)
warp.Vectors = ["POINTS", "U"]
warp.ScaleFactor = 50
display = pv.Show(warp)
pv.ColorBy(display, ("CELLS", "von_mises"))
display.RescaleTransferFunctionToDataRange(True)
view = pv.GetActiveView()
view.ViewSize = [640, 480]
view.CameraPosition = [3, -2.5, 2.5]
pv.ResetCamera()
pv.SaveScreenshot(sys.argv[2], view)
