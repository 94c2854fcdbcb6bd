"""Generate the turbine blade's meshes with gmsh (Python API, OpenCASCADE kernel).

    python meshes/make_blade.py [--preset S|M|L] [--size H] [--out FILE]

A high-pressure turbine blade in millimetres, of the proportions of a first-stage HP
blade of an aero engine (span 40 mm, chord 28 mm at the hub):

* **Airfoil**: cambered sections (a NACA four-digit camber line with 12 % camber at
  40 % of the chord; a thickness law of 22 % of the chord, thick at the leading edge,
  with a trailing edge of 3 % of the chord), stacked along the span (z, radial) about
  the point at 40 % of the chord on the camber line, with a taper (chord 28 -> 24 mm)
  and a twist (stagger 30 -> 40 degrees from hub to tip). Each section is three
  splines: the suction side, the pressure side and the trailing edge; the loft of
  each gives a face group.
* **Platform**: a slab of 3 mm under the airfoil (z in [-3, 0]).
* **Root**: a dovetail, the profile of the y-z plane extruded along the axial
  direction x (1.5 mm shorter than the platform at each end): a neck, then two flanks
  inclined at about 50 degrees whose outward normals point up (the faces that bear on
  the disk's slot under the centrifugal load), down to z = -18. The platform covers
  the hub section and the root's width with a margin of 3 mm.
* **Cooling channels**: two radial channels of diameter 2 mm, from the root's bottom
  (the coolant inlet) to 2 mm under the tip, at the camber line's points at 28 % and
  55 % of the chord at mid-span (:func:`check_channels` verifies a wall of at least
  0.4 mm in the root and at 41 heights of the airfoil).

Axes: x axial (the engine axis direction; the gas flows towards +x), y tangential, z
radial; the engine axis is the line y = 0, z = -``HUB_RADIUS`` (250 mm): the
centrifugal load of a rotation about it is ``rho omega^2 (0, y, z + 250)``.

Physical groups: volume ``blade``; surfaces ``pressure_side``, ``suction_side``,
``trailing_edge``, ``tip``, ``platform`` (the platform's top, z = 0, around the
airfoil: the hot gas path), ``platform_sides`` (its sides and underside),
``root_flanks`` (both bearing flanks),
``root_bottom``, ``root_sides`` (the other faces of the root), ``channel_1``,
``channel_2`` and ``channels`` (both channels' walls). Quadratic tetrahedra (tet10,
curved boundaries). Presets of the element size H [mm] (the size on the airfoil, and
on the channels at most a sixth of their circumference; twice that away from them):
S (2.2 mm: 31k dofs, the demo and the tests), M (0.8 mm: 247k dofs, the benchmark
pipeline), L (0.45 mm: 1.19M dofs, the scale run; 51 s to mesh). Written as gmsh
4.1 ``.msh`` (read by meshio, groups included).
"""

import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

SPAN = 40.0  # [mm]
CHORD = (28.0, 24.0)  # hub, tip [mm]
STAGGER = (30.0, 40.0)  # [degrees] hub, tip
CAMBER, CAMBER_POS, THICKNESS, TE_THICKNESS = 0.12, 0.4, 0.22, 0.03  # fractions of chord
STACK = 0.4  # the stacking point's chord fraction (on the camber line)
N_SECTIONS = 5  # sections of the loft, hub to tip
PLATFORM = 3.0  # platform thickness [mm], and its margin around the hub section
ROOT = [(5.0, -3.0), (5.0, -7.0), (9.0, -12.0), (9.0, -15.0), (6.0, -18.0)]  # (y, z), y > 0
ROOT_INSET = 1.5  # the root's axial ends inside the platform's [mm]
CHANNELS = (0.28, 0.55)  # chord fractions of the channels at mid-span (on the camber line)
CHANNEL_RADIUS = 1.0  # [mm]
CHANNEL_TOP = SPAN - 2.0
HUB_RADIUS = 250.0  # the engine axis: y = 0, z = -HUB_RADIUS [mm]
PRESETS = {"S": 2.2, "M": 0.8, "L": 0.45}  # element size H [mm]


def _section_2d(n=60):
    """Unit-chord profile ``(suction, pressure)``: arrays ``(n, 2)`` of (x along the
    chord, y) from the leading edge to the trailing edge (cosine spacing)."""
    s = 0.5 * (1 - np.cos(np.linspace(0.0, np.pi, n)))
    m, p, t = CAMBER, CAMBER_POS, THICKNESS
    yc = np.where(s < p, m / p ** 2 * (2 * p * s - s ** 2),
                  m / (1 - p) ** 2 * (1 - 2 * p + 2 * p * s - s ** 2))
    dyc = np.where(s < p, 2 * m / p ** 2 * (p - s), 2 * m / (1 - p) ** 2 * (p - s))
    yt = 5 * t * (0.2969 * np.sqrt(s) - 0.1260 * s - 0.3516 * s ** 2 + 0.2843 * s ** 3
                  - 0.1036 * s ** 4) + 0.5 * TE_THICKNESS * s
    th = np.arctan(dyc)
    suction = np.stack([s - yt * np.sin(th), yc + yt * np.cos(th)], axis=1)
    pressure = np.stack([s + yt * np.sin(th), yc - yt * np.cos(th)], axis=1)
    return suction, pressure


def _camber_point(frac):
    """The camber line's point at chord fraction ``frac`` (unit chord)."""
    m, p = CAMBER, CAMBER_POS
    yc = (m / p ** 2 * (2 * p * frac - frac ** 2) if frac < p
          else m / (1 - p) ** 2 * (1 - 2 * p + 2 * p * frac - frac ** 2))
    return np.array([frac, yc])


def _place(points, z):
    """Unit-chord points ``(n, 2)`` placed at span height ``z``: scaled by the chord,
    turned by the stagger about the stacking point, which sits on the z axis.
    Returns ``(n, 3)``."""
    f = z / SPAN
    chord = CHORD[0] + f * (CHORD[1] - CHORD[0])
    angle = np.radians(STAGGER[0] + f * (STAGGER[1] - STAGGER[0]))
    q = (np.atleast_2d(points) - _camber_point(STACK)) * chord
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    xy = q @ rot.T
    return np.column_stack([xy, np.full(len(xy), z)])


def _platform_box():
    """Corners ``(lo, hi)`` (x, y) of the platform: the hub section's bounding box with
    a margin of ``PLATFORM``, widened to hold the root's width with that margin."""
    hub = _place(np.vstack(_section_2d()), 0.0)[:, :2]
    width = max(y for y, _ in ROOT) + PLATFORM
    lo = np.minimum(hub.min(axis=0) - PLATFORM, [np.inf, -width])
    hi = np.maximum(hub.max(axis=0) + PLATFORM, [-np.inf, width])
    return lo, hi


def _channel_centres():
    """(x, y) of the channels' axes: the camber points at mid-span."""
    return [_place(_camber_point(c), 0.5 * SPAN)[0, :2] for c in CHANNELS]


def check_channels(margin=0.4):
    """The channels keep at least ``margin`` mm of wall: in the airfoil's sections at
    41 heights from the hub to the channels' top (the profile as a polygon of 400
    points and the trailing edge's segment), and in the root's neck and axial length
    (the narrowest part of the root). Raises ValueError otherwise (a geometry
    parameter out of range)."""
    from matplotlib.path import Path

    suction, pressure = _section_2d(200)
    lo, hi = _platform_box()
    neck = min(y for y, _ in ROOT)
    for z in np.linspace(0.0, CHANNEL_TOP, 41):
        s, p = _place(suction, z)[:, :2], _place(pressure, z)[:, :2]
        ring = np.vstack([s, p[::-1]])
        te = np.linspace(s[-1], p[-1], 20)
        poly = Path(ring)
        for k, c in enumerate(_channel_centres()):
            if not poly.contains_point(c):
                raise ValueError(f"channel {k + 1} leaves the airfoil at z = {z:g} mm")
            wall = np.min(np.linalg.norm(np.vstack([ring, te]) - c, axis=1)) - CHANNEL_RADIUS
            if wall < margin:
                raise ValueError(f"channel {k + 1}: wall of {wall:.2f} mm at z = {z:g} mm "
                                 f"(at least {margin} mm)")
    for k, c in enumerate(_channel_centres()):
        wall = min(neck - abs(c[1]), c[0] - lo[0] - ROOT_INSET,
                   hi[0] - ROOT_INSET - c[0]) - CHANNEL_RADIUS
        if wall < margin:
            raise ValueError(f"channel {k + 1}: wall of {wall:.2f} mm in the root "
                             f"(at least {margin} mm)")


def make(path, size=PRESETS["S"], order=2):
    """Mesh the blade into ``path`` with element size ``size`` [mm] on the airfoil and
    the channels. Returns a dict: nodes, tetrahedra, the CAD volume [mm^3] and the
    physical groups' surface tags."""
    import gmsh

    check_channels()
    gmsh.initialize(["-noenv"])
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("blade")
        occ = gmsh.model.occ
        suction, pressure = _section_2d()
        wires = []
        for z in np.linspace(0.0, SPAN, N_SECTIONS):
            ps = [occ.addPoint(*p) for p in _place(suction, z)]
            pp = [occ.addPoint(*p) for p in _place(pressure, z)[1:]]  # shares the LE
            s_curve = occ.addSpline(ps)
            p_curve = occ.addSpline([ps[0]] + pp)
            te = occ.addLine(ps[-1], pp[-1])
            wires.append(occ.addCurveLoop([s_curve, te, -p_curve]))
        airfoil = occ.addThruSections(wires, makeSolid=True, makeRuled=False)
        vol_airfoil = [t for d, t in airfoil if d == 3]
        lo, hi = _platform_box()
        platform = occ.addBox(lo[0], lo[1], -PLATFORM, hi[0] - lo[0], hi[1] - lo[1], PLATFORM)
        # dovetail profile in the plane x = lo[0] + ROOT_INSET, extruded along x
        half = ROOT + [(-y, z) for y, z in reversed(ROOT)]
        pts = [occ.addPoint(lo[0] + ROOT_INSET, y, z) for y, z in half]
        lines = [occ.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
        root_face = occ.addPlaneSurface([occ.addCurveLoop(lines)])
        root = [t for d, t in occ.extrude([(2, root_face)], hi[0] - lo[0] - 2 * ROOT_INSET,
                                          0, 0) if d == 3]
        solid, _ = occ.fuse([(3, vol_airfoil[0])], [(3, platform), (3, root[0])])
        bottom = ROOT[-1][1]
        cyl = [occ.addCylinder(c[0], c[1], bottom - 1.0, 0, 0, CHANNEL_TOP - bottom + 1.0,
                               CHANNEL_RADIUS) for c in _channel_centres()]
        solid, _ = occ.cut(solid, [(3, c) for c in cyl])
        occ.synchronize()
        if len(solid) != 1:
            raise RuntimeError(f"blade geometry: {len(solid)} volumes after the booleans")
        vol = solid[0][1]
        cad_volume = occ.getMass(3, vol)
        groups = _classify(gmsh, vol)
        for name, tags in groups.items():
            gmsh.model.addPhysicalGroup(2, tags, name=name)
        gmsh.model.addPhysicalGroup(3, [vol], name="blade")
        # sizes: `size` on the airfoil, 2 size away from it; on the channels' walls
        # at most a sixth of their circumference
        fd = gmsh.model.mesh.field
        fields = []
        for names, near, d0, d1 in (
                (("pressure_side", "suction_side", "trailing_edge"), size, 1.0, 6.0),
                (("channels",), min(size, np.pi * CHANNEL_RADIUS / 3), 0.0, 2.0)):
            dist = fd.add("Distance")
            fd.setNumbers(dist, "SurfacesList", [t for n in names for t in groups[n]])
            fd.setNumber(dist, "Sampling", 40)
            th = fd.add("Threshold")
            fd.setNumber(th, "InField", dist)
            fd.setNumber(th, "SizeMin", near)
            fd.setNumber(th, "SizeMax", 2.0 * size)
            fd.setNumber(th, "DistMin", d0)
            fd.setNumber(th, "DistMax", d1)
            fields.append(th)
        smallest = fd.add("Min")
        fd.setNumbers(smallest, "FieldsList", fields)
        fd.setAsBackgroundMesh(smallest)
        for opt in ("MeshSizeExtendFromBoundary", "MeshSizeFromPoints",
                    "MeshSizeFromCurvature"):
            gmsh.option.setNumber(f"Mesh.{opt}", 0)
        gmsh.option.setNumber("Mesh.MeshSizeMax", 2.0 * size)
        gmsh.model.mesh.generate(3)
        gmsh.model.mesh.setOrder(order)
        gmsh.model.mesh.optimize("HighOrder")
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.write(path)
        _, elems, nodes = gmsh.model.mesh.getElements(3)
        return {"nodes": len(np.unique(np.concatenate(nodes))),
                "tetrahedra": sum(len(e) for e in elems),
                "cad_volume": cad_volume, "groups": groups}
    finally:
        gmsh.finalize()


def _classify(gmsh, vol, eps=1e-6):
    """The physical groups' surface tags of the volume ``vol``, from each surface's
    bounding box and a normal at its parametric centre."""
    model = gmsh.model
    groups = {n: [] for n in ("pressure_side", "suction_side", "trailing_edge", "tip",
                              "platform", "platform_sides", "root_flanks", "root_bottom",
                              "root_sides", "channel_1", "channel_2")}
    centres = _channel_centres()
    for _, tag in model.getBoundary([(3, vol)], oriented=False):
        x0, y0, z0, x1, y1, z1 = model.getBoundingBox(2, tag)
        umin, umax = model.getParametrizationBounds(2, tag)
        uv = 0.5 * (np.asarray(umin) + np.asarray(umax))
        n = np.asarray(model.getNormal(tag, uv))
        c = np.asarray(model.getValue(2, tag, uv))
        flat_z = abs(z1 - z0) < eps
        if flat_z and abs(z0 - SPAN) < eps:
            groups["tip"].append(tag)
        elif flat_z and abs(z0) < eps:
            groups["platform"].append(tag)
        elif flat_z and abs(z0 - ROOT[-1][1]) < eps:
            groups["root_bottom"].append(tag)
        elif flat_z and abs(z0 - CHANNEL_TOP) < eps:  # the channels' closed ends
            k = int(np.argmin([np.hypot(*(c[:2] - q)) for q in centres]))
            groups[f"channel_{k + 1}"].append(tag)
        elif min(np.hypot(*(c[:2] - q)) for q in centres) < CHANNEL_RADIUS + 1e-3:
            k = int(np.argmin([np.hypot(*(c[:2] - q)) for q in centres]))
            groups[f"channel_{k + 1}"].append(tag)
        elif z0 > -eps:  # the airfoil: above the platform
            groups[_airfoil_face(c)].append(tag)
        elif z0 > -PLATFORM - eps:
            groups["platform_sides"].append(tag)
        elif abs(n[2]) > 0.3 and abs(n[0]) < 1e-6 and c[2] > _widest_z():
            # the inclined faces between the neck and the widest part: the flanks that
            # bear on the slot (the chamfers under the widest part are root_sides)
            groups["root_flanks"].append(tag)
        else:
            groups["root_sides"].append(tag)
    groups["channels"] = groups["channel_1"] + groups["channel_2"]
    for name, tags in groups.items():
        if not tags:
            raise RuntimeError(f"blade geometry: no surface found for group '{name}'")
    return groups


def _widest_z():
    """The height where the dovetail is widest (its top, if several)."""
    w = max(y for y, _ in ROOT)
    return max(z for y, z in ROOT if y == w)


def _airfoil_face(c):
    """Which loft face a point ``c`` of the airfoil's surface lies on: the nearest of
    the section's suction side, pressure side and trailing edge at that height."""
    suction, pressure = _section_2d(400)
    s = _place(suction, c[2])
    p = _place(pressure, c[2])
    te = np.linspace(s[-1], p[-1], 50)
    d = [np.min(np.linalg.norm(a[:, :2] - c[:2], axis=1)) for a in (s, p, te)]
    return ("suction_side", "pressure_side", "trailing_edge")[int(np.argmin(d))]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="S")
    p.add_argument("--size", type=float, help="element size [mm] (overrides the preset)")
    p.add_argument("--out", help="output .msh (default meshes/blade_<preset>.msh)")
    args = p.parse_args()
    size = args.size or PRESETS[args.preset]
    out = args.out or os.path.join(HERE, f"blade_{args.preset}.msh")
    info = make(out, size)
    print(f"{out}: {info['nodes']} nodes ({3 * info['nodes']} dofs), {info['tetrahedra']} "
          f"tet10, CAD volume {info['cad_volume']:.1f} mm^3; groups: "
          + ", ".join(f"{k} ({len(v)})" for k, v in info["groups"].items()))


if __name__ == "__main__":
    main()
