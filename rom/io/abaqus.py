"""Abaqus and CalculiX input decks (``.inp``): the mesh part, read by hand into a
:class:`rom.mesh.MeshData`.

meshio's Abaqus reader (5.0, Debian's) is not used: it stops on the surface
elements gmsh writes beside quadratic volumes (``CPS6``, ``CPS8``, ``M3D9``), ignores
``*SURFACE``, wants element types in upper case, drops the element sets of included
files, fails on a trailing comma of a node line, and reports errors without a file or
a line. This reader takes the mesh keywords and skips every other one (heading,
materials, sections, steps, boundary conditions, loads, outputs) with its data lines:

* ``*NODE[, NSET=n]``: ``id, x[, y[, z]]`` (missing coordinates are 0).
* ``*ELEMENT, TYPE=t[, ELSET=e]``: ``id, n1, n2, ...``, an element continued on the
  next lines until it has its nodes.
* ``*NSET, NSET=n`` and ``*ELSET, ELSET=e``: ids and names of sets defined before;
  with ``GENERATE``, lines ``first, last[, step]``. A repeated name adds to the set.
* ``*SURFACE, NAME=s[, TYPE=ELEMENT]``: ``element or element set, Sk`` (face ``k``
  of each element, numbering below); ``*SURFACE, NAME=s, TYPE=NODE``: ``node or node
  set[, weight]`` (the weight is ignored).
* ``*INCLUDE, INPUT=file``: the file's lines read in place (keywords or data lines),
  the path relative to the including file.

Keywords and parameters are case-insensitive, so are set names when the deck refers
to them; a set keeps the spelling of its first definition. ``**`` starts a comment.

Element types: ``C3D4``, ``C3D10``, ``C3D8``, ``C3D20``, the wedges ``C3D6``,
``C3D15`` and the pyramids ``C3D5``, ``C3D13``, and their variants (``H``, ``R``, ``I``,
``M``, ``T``, ``V``, heat transfer ``DC3D*``) give the topology only: the solver
integrates with its own rule. A deck may hold several of them: the mesh gets one cell
block per type (:class:`rom.mesh.MeshData`, types in alphabetical order of their meshio
names: ``hexahedron``, ``hexahedron20``, ``pyramid``, ``pyramid13``, ``tetra``,
``tetra10``, ``wedge``, ``wedge15``), each block's cells in the order of the deck, and
the cells numbered block after block (element sets follow that numbering). Linear and
quadratic solids are not mixed (their faces cannot match); 27-node hexahedra
(``C3D27``) are refused, naming the type and the count. Every cell is checked: a
non-positive Jacobian at its centre raises, naming the element (an inverted element,
or a deck whose wedges are not in Abaqus' order). Surface elements (``CPS3/4/6/8``,
``CPE*``, ``CAX*``, ``S3/4/8R``, ``STRI65``, ``M3D*``, ``SFM3D*``, ``R3D*``) are the
faces of their element sets (face sets of the mesh); lines, beams, 9-node
quadrilaterals, masses and springs are skipped, their element sets kept as node sets.

Node orders: those of ``C3D4``, ``C3D10``, ``C3D8``, ``C3D20``, ``C3D5`` and ``C3D13``
are meshio's (VTK's) already; Abaqus numbers its wedges with the triangle 1-2-3
counterclockwise seen from 4-5-6, VTK the other way round, so ``C3D6`` and ``C3D15``
cells are reflected (:func:`rom.io.orderings.permutation` ``("abaqus", ...)``, found
on gmsh-written decks: see that module).

Face numbering of ``*SURFACE`` (Abaqus's; CalculiX's tetrahedra and hexahedra are
numbered alike; 1-based corner nodes in the deck's order, the mid-edge nodes of
quadratic elements follow their edges):

=============  =======  =======  =======  =======  =======  =======
element        S1       S2       S3       S4       S5       S6
=============  =======  =======  =======  =======  =======  =======
C3D4, C3D10    1-2-3    1-4-2    2-4-3    3-4-1
C3D8, C3D20    1-2-3-4  5-8-7-6  1-5-6-2  2-6-7-3  3-7-8-4  4-8-5-1
C3D6, C3D15    1-2-3    4-6-5    1-4-5-2  2-5-6-3  3-6-4-1
C3D5, C3D13    1-2-3-4  1-5-2    2-5-3    3-5-4    4-5-1
=============  =======  =======  =======  =======  =======  =======

The wedge's row is the Abaqus manual's ("Three-dimensional solid element library",
face numbering of the wedge elements), the same corner sets as libMesh's Abaqus reader
(its PRISM side map) and A. Bower's Abaqus UEL face routine. The pyramid's row was
not checked against the manual's text (not at hand): it follows the convention of the
other rows (each face's corners with the right-hand normal pointing into the element,
the base first, then the sides in the order of the base's edges, each from the edge's
first corner through the apex 5), and ``tests/test_abaqus_deck.py`` checks that each
label is one face of the element and names boundary faces of gmsh-written decks with
their exact areas.
A face is the reference element's face with the same corners (after the node
permutation of wedges): its connectivity is that face's (outward, mid-edge nodes
included), the one the face integration uses; a surface may hold triangles and
quadrilaterals (``element_groups[name]["faces"]`` then has both face types).

Every error is a :class:`rom.RomError` naming the file and the line.
"""

import functools
import os
import re

import numpy as np

from rom import RomError
from rom.fem.elements import get_element

__all__ = ["read_abaqus", "ABAQUS_FACES", "ELEMENT_TYPES"]

# Abaqus faces S1..Sn by their corners (0-based local nodes in the deck's order, the
# manual's cyclic order: right-hand normal into the element)
ABAQUS_FACES = {
    "tetra": ((0, 1, 2), (0, 3, 1), (1, 3, 2), (2, 3, 0)),
    "hexahedron": ((0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3),
                   (3, 7, 4, 0)),
    "wedge": ((0, 1, 2), (3, 5, 4), (0, 3, 4, 1), (1, 4, 5, 2), (2, 5, 3, 0)),
    "pyramid": ((0, 1, 2, 3), (0, 4, 1), (1, 4, 2), (2, 4, 3), (3, 4, 0)),
}
for _linear, _quadratic in (("tetra", "tetra10"), ("hexahedron", "hexahedron20"),
                            ("wedge", "wedge15"), ("pyramid", "pyramid13")):
    ABAQUS_FACES[_quadratic] = ABAQUS_FACES[_linear]


def _types(role, meshio_type, n_nodes, names):
    return {name: (role, meshio_type, n_nodes) for name in names.split()}


# element type -> (role, meshio type, number of nodes); role: "volume" (the mesh),
# "refused" (a volume the solver has no element for), "face" (faces of the sets),
# "other" (skipped; the nodes of its sets kept)
ELEMENT_TYPES = {
    **_types("volume", "tetra", 4, "C3D4 C3D4H C3D4T DC3D4"),
    **_types("volume", "tetra10", 10, "C3D10 C3D10H C3D10I C3D10M C3D10MH C3D10HS C3D10T "
                                      "C3D10MT C3D10MHT DC3D10"),
    **_types("volume", "hexahedron", 8, "C3D8 C3D8R C3D8H C3D8I C3D8RH C3D8IH C3D8S C3D8HS "
                                        "C3D8T C3D8RT C3D8HT C3D8RHT DC3D8"),
    **_types("volume", "hexahedron20", 20, "C3D20 C3D20R C3D20H C3D20RH C3D20T C3D20RT "
                                           "C3D20HT C3D20RHT DC3D20"),
    **_types("volume", "wedge", 6, "C3D6 C3D6H C3D6T DC3D6"),
    **_types("volume", "wedge15", 15, "C3D15 C3D15H C3D15V C3D15T DC3D15"),
    **_types("volume", "pyramid", 5, "C3D5 C3D5H"),
    **_types("volume", "pyramid13", 13, "C3D13"),
    **_types("refused", "hexahedron27", 27, "C3D27 C3D27H C3D27R C3D27RH"),
    **_types("face", "triangle", 3, "CPS3 CPE3 CPE3H CAX3 CAX3H S3 S3R S3RS STRI3 M3D3 R3D3 "
                                    "SFM3D3 DS3 DC2D3"),
    **_types("face", "quad", 4, "CPS4 CPS4R CPS4I CPE4 CPE4R CPE4H CPE4I CAX4 CAX4R CAX4H "
                                "CAX4P S4 S4R S4R5 S4RS S4RSW M3D4 M3D4R R3D4 SFM3D4 "
                                "SFM3D4R DS4 DC2D4"),
    **_types("face", "triangle6", 6, "CPS6 CPS6M CPE6 CPE6M CPE6H CAX6 CAX6M STRI65 S6 M3D6 "
                                     "SFM3D6 DS6 DC2D6"),
    **_types("face", "quad8", 8, "CPS8 CPS8R CPE8 CPE8R CPE8H CAX8 CAX8R S8R S8R5 M3D8 "
                                 "M3D8R SFM3D8 SFM3D8R DS8 DC2D8"),
    **_types("other", "quad9", 9, "S9R5 M3D9 M3D9R CPS9"),
    **_types("other", "line", 2, "T2D2 T2D2H T3D2 T3D2H B21 B21H B31 B31H B31OS B31R "
                                 "SPRING2 SPRINGA DASHPOT2 DASHPOTA GAPUNI CONN3D2"),
    **_types("other", "line3", 3, "T2D3 T2D3H T3D3 T3D3H B22 B22H B32 B32H B32R B33 B33H D"),
    **_types("other", "vertex", 1, "MASS ROTARYI SPRING1 DASHPOT1 DCOUP3D"),
}

# parameters of the mesh keywords: allowed, required with a value, flags (no value)
_PARAMETERS = {
    "NODE": ({"NSET"}, set(), set()),
    "ELEMENT": ({"TYPE", "ELSET"}, {"TYPE"}, set()),
    "NSET": ({"NSET", "GENERATE", "INTERNAL", "UNSORTED"}, {"NSET"},
             {"GENERATE", "INTERNAL", "UNSORTED"}),
    "ELSET": ({"ELSET", "GENERATE", "INTERNAL", "UNSORTED"}, {"ELSET"},
              {"GENERATE", "INTERNAL", "UNSORTED"}),
    "SURFACE": ({"NAME", "TYPE", "INTERNAL"}, {"NAME"}, {"INTERNAL"}),
    "INCLUDE": ({"INPUT"}, {"INPUT"}, set()),
}
_FACE_LABEL = re.compile(r"S(\d+)", re.IGNORECASE)


def read_abaqus(path):
    """Read the mesh of the Abaqus/CalculiX deck ``path``: a :class:`rom.mesh.MeshData`.

    The volume elements are the cells, one block per element type (types in
    alphabetical order, each block's cells in the deck's order, wedges put in VTK's
    node order); nodes used by no volume element are dropped, the others numbered in
    the order of their definition (``file_node_ids`` is the index among the deck's
    nodes). Element sets give ``element_groups`` (volume cells in the blocks'
    numbering, surface elements as faces) and the node sets of their nodes; node sets
    give ``node_groups``; an element-based ``*SURFACE`` gives the faces it names (by face
    type) and the set of their nodes, a node-based one a node set and the boundary
    faces (of every face type) whose nodes are all in it.
    """
    if not os.path.isfile(path):
        raise RomError(f"mesh file not found: {path}")
    deck = _Deck(path)
    try:
        deck.parse()
    except OSError as exc:
        raise RomError(f"cannot read mesh file {path}: {exc}") from None
    return deck.mesh_data()


def _keyword_line(text):
    """``(KEYWORD, {PARAMETER: value or None})`` of a keyword line (case-folded keys)."""
    parts = text[1:].split(",")
    name = " ".join(parts[0].upper().split())
    params = {}
    for p in parts[1:]:
        key, eq, value = p.partition("=")
        key = " ".join(key.upper().split())
        if key:
            params[key] = value.strip().strip('"').strip() if eq else None
    return name, params


def _tokens(text):
    """Comma-separated fields of a data line (a trailing comma ends no field)."""
    tok = [t.strip() for t in text.split(",")]
    while tok and not tok[-1]:
        tok.pop()
    return tok


class _Deck:
    """The mesh keywords of a deck and its included files, then the mesh.

    A place in the deck is a code ``file index * 2**32 + line number``, decoded by
    :meth:`where` for the messages.
    """

    def __init__(self, path):
        self.path = path
        self.files = []
        self.node_cards = []  # (ids (n,), xyz (n, 3), places (n,), NSET key or None)
        self.element_cards = []  # (type, spec, ids (n,), node ids (n, k), places (n,))
        self.sets = {"node": {}, "element": {}}  # KEY -> [name, entries]
        self.surfaces = {}  # KEY -> [name, type, entries]

    # --- places and errors ---------------------------------------------------------------
    def where(self, place):
        return f"{self.files[place >> 32]}, line {place & 0xFFFFFFFF}"

    def error(self, place, what):
        return RomError(f"{self.where(place)}: {what}")

    # --- lines and keywords --------------------------------------------------------------
    def _lines(self, path, chain):
        """``(place, text)`` of the non-blank, non-comment lines, includes expanded."""
        fid = len(self.files)
        self.files.append(path)
        with open(path, encoding="latin-1") as f:
            for number, raw in enumerate(f, 1):
                text = raw.strip()
                if not text or text.startswith("**"):
                    continue
                place = (fid << 32) + number
                if text.startswith("*"):
                    name, params = _keyword_line(text)
                    if name == "INCLUDE":
                        self._check(name, params, place)
                        target = os.path.join(os.path.dirname(path), params["INPUT"])
                        if not os.path.isfile(target):
                            raise self.error(place, f"included file not found: {target}")
                        if os.path.realpath(target) in chain:
                            raise self.error(place, f"{target} includes itself")
                        yield from self._lines(target, chain | {os.path.realpath(target)})
                        continue
                yield place, text

    def _check(self, name, params, place):
        allowed, required, flags = _PARAMETERS[name]
        for key, value in params.items():
            if key not in allowed:
                raise self.error(place, f"*{name}: unknown or unsupported parameter '{key}' "
                                        f"(known: {', '.join(sorted(allowed))})")
            if key in flags and value is not None:
                raise self.error(place, f"*{name}: parameter {key} takes no value")
            if key not in flags and not value:
                raise self.error(place, f"*{name}: parameter {key} needs a value ({key}=...)")
        for key in required:
            if key not in params:
                raise self.error(place, f"*{name}: parameter {key}= is missing")

    def parse(self):
        """Read the deck: the mesh keywords' data, the other keywords skipped."""
        card = None
        for place, text in self._lines(self.path, {os.path.realpath(self.path)}):
            if text.startswith("*"):
                if card is not None:
                    self._card(*card)
                name, params = _keyword_line(text)
                card = (name, params, place, []) if name in _PARAMETERS else None
            elif card is not None:
                card[3].append((place, text))
        if card is not None:
            self._card(*card)

    def _card(self, name, params, place, data):
        self._check(name, params, place)
        getattr(self, "_" + name.lower())(params, place, data)

    def _add_set(self, kind, name, entry):
        self.sets[kind].setdefault(name.upper(), [name, []])[1].append(entry)

    def _node(self, params, place, data):
        ids = np.empty(len(data), dtype=np.int64)
        xyz = np.zeros((len(data), 3))
        places = np.array([p for p, _ in data], dtype=np.int64)
        for i, (p, text) in enumerate(data):
            tok = _tokens(text)
            try:
                ids[i] = int(tok[0])
                c = [float(t) if t else 0.0 for t in tok[1:4]]
            except (ValueError, IndexError):
                raise self.error(p, f"a node line is 'id, x, y, z', not '{text}'") from None
            if ids[i] <= 0 or not c:
                raise self.error(p, f"a node line is 'id, x, y, z' with id > 0, not '{text}'")
            xyz[i, : len(c)] = c
        self.node_cards.append((ids, xyz, places))
        if params.get("NSET"):
            self._add_set("node", params["NSET"], (place, "ids", ids))

    def _element(self, params, place, data):
        etype = params["TYPE"].upper()
        spec = ELEMENT_TYPES.get(etype)
        if spec is None:
            raise self.error(place, f"*ELEMENT: unknown element type '{params['TYPE']}'; "
                                    "known solids: " + ", ".join(
                                        k for k, v in ELEMENT_TYPES.items() if v[0] == "volume"))
        width = spec[2] + 1
        rows, places, buf, start = [], [], [], None
        for p, text in data:
            try:
                values = [int(t) for t in _tokens(text)]
            except ValueError:
                raise self.error(p, f"an element line holds integer ids, not '{text}'") from None
            start = p if not buf else start
            buf += values
            if len(buf) >= width:
                if len(buf) > width:
                    raise self.error(start, f"element {buf[0]} has {len(buf) - 1} nodes, "
                                            f"{etype} has {width - 1}")
                rows.append(buf)
                places.append(start)
                buf = []
        if buf:
            raise self.error(start, f"element {buf[0]} has {len(buf) - 1} nodes, {etype} has "
                                    f"{width - 1} (the element's lines end there)")
        rows = np.array(rows, dtype=np.int64).reshape(-1, width)
        if np.any(rows[:, 0] <= 0):
            i = int(np.flatnonzero(rows[:, 0] <= 0)[0])
            raise self.error(places[i], f"element id {rows[i, 0]} is not positive")
        k = len(self.element_cards)
        self.element_cards.append((etype, spec, rows[:, 0], rows[:, 1:],
                                   np.array(places, dtype=np.int64)))
        if params.get("ELSET"):
            self._add_set("element", params["ELSET"], (place, "card", k))

    def _set_lines(self, kind, params, data):
        name = params["NSET" if kind == "node" else "ELSET"]
        for p, text in data:
            tok = _tokens(text)
            if "GENERATE" in params:
                try:
                    first, last, *step = (int(t) for t in tok)
                    step = step[0] if step else 1
                    if len(tok) > 3 or step <= 0 or last < first or first <= 0:
                        raise ValueError
                except ValueError:
                    raise self.error(p, f"a GENERATE line is 'first, last[, step]' with "
                                        f"0 < first <= last, step > 0; not '{text}'") from None
                self._add_set(kind, name, (p, "ids", np.arange(first, last + 1, step)))
                continue
            ids = [t for t in tok if t.lstrip("-").isdigit()]
            names = [t for t in tok if not t.lstrip("-").isdigit()]
            if any(not t for t in names):
                raise self.error(p, f"empty field in '{text}'")
            if ids:
                self._add_set(kind, name, (p, "ids", np.array(ids, dtype=np.int64)))
            for t in names:
                self._add_set(kind, name, (p, "set", t))

    def _nset(self, params, place, data):
        self._set_lines("node", params, data)

    def _elset(self, params, place, data):
        self._set_lines("element", params, data)

    def _surface(self, params, place, data):
        stype = (params.get("TYPE") or "ELEMENT").upper()
        if stype not in ("ELEMENT", "NODE"):
            raise self.error(place, f"*SURFACE: TYPE={params['TYPE']} is not supported "
                                    "(ELEMENT or NODE)")
        entry = self.surfaces.setdefault(params["NAME"].upper(), [params["NAME"], stype, []])
        if entry[1] != stype:
            raise self.error(place, f"*SURFACE {params['NAME']}: defined before with "
                                    f"TYPE={entry[1]}")
        for p, text in data:
            tok = _tokens(text)
            if not tok or not tok[0]:
                raise self.error(p, f"empty field in '{text}'")
            if stype == "ELEMENT" and len(tok) != 2:
                raise self.error(p, "an element surface line is 'element or element set, "
                                    f"face (S1..S6)', not '{text}'")
            entry[2].append((p, tok[0], tok[1] if stype == "ELEMENT" else None))

    # --- resolution ------------------------------------------------------------------------
    def _lookup(self, sorted_ids, order, ids, place, what):
        """Indices of ``ids`` among the defined ones (``sorted_ids``, sorting ``order``)."""
        pos = np.minimum(np.searchsorted(sorted_ids, ids), max(len(sorted_ids) - 1, 0))
        ok = sorted_ids[pos] == ids if len(sorted_ids) else np.zeros(len(ids), bool)
        if not np.all(ok):
            bad = int(np.asarray(ids)[~ok][0])
            raise self.error(place if np.ndim(place) == 0 else place[~ok][0],
                             f"{what} {bad} is not defined")
        return order[pos]

    @staticmethod
    def _sorted(ids):
        order = np.argsort(ids, kind="stable")
        return ids[order], order

    def _first_duplicate(self, ids, places, what):
        s, order = self._sorted(ids)
        dup = np.flatnonzero(s[1:] == s[:-1])
        if len(dup):
            i, j = order[dup[0]], order[dup[0] + 1]
            raise self.error(places[j], f"{what} {ids[j]} is defined twice (first at "
                                        f"{self.where(places[i])})")

    def _by_card(self, members):
        """``(card index, rows of the card)`` of the element indices ``members``."""
        for k, card in enumerate(self.element_cards):
            lo = self._card_offset[k]
            rows = members[(members >= lo) & (members < lo + len(card[2]))] - lo
            if len(rows):
                yield k, rows

    def _resolve(self, kind, key, place, chain=()):
        """Indices (nodes or elements, in definition order) of set ``key``."""
        memo = self._memo[kind]
        if key in memo:
            return memo[key]
        entry = self.sets[kind].get(key)
        if entry is None:
            raise self.error(place, f"{kind} set '{key}' is not defined")
        if key in chain:
            raise self.error(place, f"{kind} set '{entry[0]}' contains itself")
        out = []
        for p, how, payload in entry[1]:
            if how == "ids":
                out.append(self._lookup(*self._index[kind], payload, p, kind))
            elif how == "card":
                out.append(self._card_offset[payload]
                           + np.arange(len(self.element_cards[payload][2])))
            else:
                out.append(self._resolve(kind, payload.upper(), p, chain + (key,)))
        memo[key] = np.unique(np.concatenate(out)) if out else np.zeros(0, np.int64)
        return memo[key]

    def mesh_data(self):
        """The :class:`rom.mesh.MeshData` of the parsed deck."""
        from rom.io.orderings import permutation
        from rom.mesh import MeshData

        src = self.path
        if not self.node_cards:
            raise RomError(f"{src}: no *NODE in the deck")
        node_ids = np.concatenate([c[0] for c in self.node_cards])
        node_places = np.concatenate([c[2] for c in self.node_cards])
        xyz = np.concatenate([c[1] for c in self.node_cards])
        self._first_duplicate(node_ids, node_places, "node")
        cards = self.element_cards
        if cards:
            self._first_duplicate(np.concatenate([c[2] for c in cards]),
                                  np.concatenate([c[4] for c in cards]), "element")
        self._card_offset = np.cumsum([0] + [len(c[2]) for c in cards])
        self._index = {"node": self._sorted(node_ids),
                       "element": self._sorted(np.concatenate([c[2] for c in cards])
                                               if cards else np.zeros(0, np.int64))}
        self._memo = {"node": {}, "element": {}}
        conns = [self._lookup(*self._index["node"], c[3].ravel(),
                              np.repeat(c[4], c[3].shape[1]), "node").reshape(c[3].shape)
                 for c in cards]

        refused = {}
        for etype, spec, ids, _, places in cards:
            if spec[0] == "refused":
                n, first = refused.get(etype, (0, places[0]))
                refused[etype] = (n + len(ids), first)
        if refused:
            raise RomError(f"{src}: " + "; ".join(
                f"{n} {t} element(s) ({ELEMENT_TYPES[t][1]}; the first at {self.where(first)})"
                for t, (n, first) in refused.items())
                + ": not supported by the solver, which takes tetrahedra (C3D4, C3D10), "
                "hexahedra (C3D8, C3D20), wedges (C3D6, C3D15) and pyramids (C3D5, C3D13)")
        volume = [k for k, c in enumerate(cards) if c[1][0] == "volume"]
        if not volume:
            raise RomError(f"{src}: no solid elements (C3D4, C3D10, C3D8, C3D20, C3D6, "
                           "C3D15, C3D5, C3D13 or their variants) in the deck")
        degrees = {}
        for k in volume:
            per = degrees.setdefault(get_element(cards[k][1][1]).degree, {})
            per[cards[k][0]] = per.get(cards[k][0], 0) + len(cards[k][2])
        if len(degrees) > 1:
            raise RomError(f"{src}: linear solid elements (" + ", ".join(
                f"{t}: {n}" for t, n in degrees[1].items()) + ") beside quadratic ones ("
                + ", ".join(f"{t}: {n}" for t, n in degrees[2].items())
                + "): their faces cannot match; one degree per mesh")

        # cell blocks: one per meshio type (alphabetical), cards of a type in deck order
        by_type = {}
        for k in volume:
            by_type.setdefault(cards[k][1][1], []).append(k)
        vol_offset, n = {}, 0  # card -> first cell id of its elements
        for t in sorted(by_type):
            for k in by_type[t]:
                vol_offset[k] = n
                n += len(conns[k])
                perm = permutation("abaqus", t)
                if perm is not None:  # the deck's order -> ours
                    conns[k] = conns[k][:, np.array(perm)]
        if n == 0:
            raise RomError(f"{src}: its solid element card(s) hold no element")
        # the compact numbering of the cells' nodes, in definition order
        used = np.zeros(len(node_ids), dtype=bool)
        for k in volume:
            used[conns[k].ravel()] = True
        new_id = np.full(len(node_ids), -1, dtype=np.int64)
        new_id[used] = np.arange(used.sum())
        points = xyz[used]
        for k in volume:
            conns[k] = new_id[conns[k]]
        blocks = []
        for t in sorted(by_type):
            cells = np.concatenate([conns[k] for k in by_type[t]])
            if len(cells):  # (a type whose cards hold no element has no block)
                self._check_orientation(t, points, cells, by_type[t])
                blocks.append((t, cells))

        element_groups, node_groups = {}, {}

        def add_group(name, vol=(), faces=None, nodes=()):
            g = element_groups.setdefault(name, {"cells": np.zeros(0, np.int64), "faces": {}})
            g["cells"] = np.union1d(g["cells"], np.asarray(vol, np.int64))
            for t, conn in (faces or {}).items():
                g["faces"][t] = np.concatenate([g["faces"][t], conn]) if t in g["faces"] \
                    else conn
            add_nodes(name, nodes)

        def add_nodes(name, nodes):
            nodes = np.asarray(nodes, dtype=np.int64)
            nodes = nodes[nodes >= 0]
            node_groups[name] = np.union1d(node_groups.get(name, np.zeros(0, np.int64)), nodes)

        for key, (name, _) in self.sets["element"].items():
            members = self._resolve("element", key, None)
            vol, faces, nodes = [], {}, []
            for k, rows in self._by_card(members):
                conn = conns[k][rows] if k in vol_offset else new_id[conns[k][rows]]
                nodes.append(conn.ravel())
                if k in vol_offset:
                    vol.append(vol_offset[k] + rows)
                elif cards[k][1][0] == "face":
                    faces.setdefault(cards[k][1][1], []).append(conn)
            add_group(name, np.concatenate(vol) if vol else (),
                      {t: np.concatenate(c) for t, c in faces.items()},
                      np.concatenate(nodes) if nodes else ())
        for key, (name, _) in self.sets["node"].items():
            add_nodes(name, new_id[self._resolve("node", key, None)])

        # element surfaces: faces S1..Sn of volume elements, by face type
        node_surfaces = {}
        for name, stype, entries in self.surfaces.values():
            if stype == "NODE":
                sel = [self._resolve("node", t.upper(), p) if not t.isdigit() else
                       self._lookup(*self._index["node"], np.array([int(t)]), p, "node")
                       for p, t, _ in entries]
                node_surfaces[name] = new_id[np.concatenate(sel)] if sel else \
                    np.zeros(0, np.int64)
                add_nodes(name, node_surfaces[name])
                continue
            faces = {}
            for p, t, label in entries:
                for ft, conn in self._surface_faces(p, t, label, conns, vol_offset).items():
                    faces.setdefault(ft, []).append(conn)
            faces = {ft: np.concatenate(c) for ft, c in faces.items()}
            if not faces:  # no element: an empty face set
                ft = get_element(blocks[0][0]).face_types[0]
                faces = {ft: np.zeros((0, get_element(ft).n_nodes), np.int64)}
            add_group(name, faces=faces,
                      nodes=np.concatenate([c.ravel() for c in faces.values()]))

        data = MeshData(points=points, cell_type="mixed", cells=blocks,
                        element_groups=element_groups, node_groups=node_groups, source=src,
                        file_node_ids=np.flatnonzero(used), n_file_points=len(node_ids))
        if node_surfaces:  # a node surface's faces: boundary faces with all nodes in it
            boundary = data.boundary_faces()
            for name, nodes in node_surfaces.items():
                inside = np.zeros(data.n_nodes, dtype=bool)
                inside[nodes[nodes >= 0]] = True
                faces = {ft: bconn[np.all(inside[bconn], axis=1)]
                         for ft, (_, _, bconn) in boundary.items()}
                faces = {ft: c for ft, c in faces.items() if len(c)}
                if faces:
                    add_group(name, faces=faces)
        return data

    def _check_orientation(self, cell_type, points, cells, card_ids):
        """Raise for a cell whose Jacobian at its reference centre is not positive."""
        el = get_element(cell_type)
        dN = el.shape_gradients(el.center[None, :])[0]  # (n_nodes, 3)
        det = np.linalg.det(np.einsum("cak,aj->ckj", points[cells], dN))
        bad = np.flatnonzero(det <= 0)
        if not bad.size:
            return
        i = int(bad[0])
        for k in card_ids:  # the card and row of cell i of the block
            if i < len(self.element_cards[k][2]):
                break
            i -= len(self.element_cards[k][2])
        etype, _, ids, _, places = self.element_cards[k]
        hint = (" (Abaqus numbers a wedge's triangle 1-2-3 counterclockwise seen from "
                "4-5-6, VTK and meshio's Abaqus writer the other way round)"
                if cell_type.startswith("wedge") else "")
        raise self.error(places[i], f"element {ids[i]} ({etype}): non-positive Jacobian "
                                    f"at its centre ({bad.size} such {etype} element(s)): "
                                    f"inverted or degenerate{hint}")

    def _surface_faces(self, place, token, label, conns, vol_offset):
        """``{face type: connectivity (n, n_nodes_f)}`` of the faces of one
        element-surface line (``conns``: the cards' connectivities, the volume ones in
        our node order and numbering)."""
        if token.isdigit():
            members = self._lookup(*self._index["element"], np.array([int(token)]), place,
                                   "element")
        else:
            members = self._resolve("element", token.upper(), place)
        m = _FACE_LABEL.fullmatch(label)
        out = {}
        for k, rows in self._by_card(members):
            etype, spec, ids = self.element_cards[k][:3]
            if k not in vol_offset:
                raise self.error(place, f"element {ids[rows[0]]} is a {etype}, not a solid "
                                        "element: it has no face " + label)
            el = get_element(spec[1])
            to_local = _abaqus_to_local(el.name)
            if m is None or not 1 <= int(m.group(1)) <= len(to_local):
                raise self.error(place, f"face '{label}' is not a face of {etype} "
                                        f"(S1..S{len(to_local)})")
            j = to_local[int(m.group(1)) - 1]
            conn = conns[k][rows][:, np.array(el.faces[j])]
            ft = el.face_types[j]
            out[ft] = np.concatenate([out[ft], conn]) if ft in out else conn
        if m is None and not out:
            raise self.error(place, f"face '{label}' is not a face of an element (S1..S6)")
        return out


@functools.lru_cache(maxsize=None)
def _abaqus_to_local(cell_type):
    """Our face index of each Abaqus face S1..Sn of ``cell_type``: the one face of the
    element with the same corners once the deck's node order is put into ours."""
    from rom.io.orderings import permutation

    element = get_element(cell_type)
    perm = permutation("abaqus", element.name)
    ours = np.argsort(perm) if perm is not None else np.arange(element.n_nodes)
    n_corners = [get_element(t).n_corners for t in element.face_types]
    out = []
    for corners in ABAQUS_FACES[element.name]:
        c = {int(ours[a]) for a in corners}
        (j,) = [j for j, f in enumerate(element.faces) if set(f[: n_corners[j]]) == c]
        out.append(j)
    return tuple(out)
