"""Bad input: a clear message naming the problem and a non-zero exit, also under
``mpirun -n 2`` (no hang)."""

import numpy as np
import pytest

from conftest import run_cli
from rom import RomError
from rom.case import parse_case
from rom.io.meshfile import write_mesh_file
from rom.meshgen import box_mesh

GOOD = """
[mesh]
file = "mesh.msh"
[material]
law = "elastic"
E = 1000.0
nu = 0.3
[[dirichlet]]
set = "xmin"
"""


@pytest.fixture
def folder(tmp_path):
    write_mesh_file(str(tmp_path / "mesh.msh"), box_mesh((2, 2, 2), (1, 1, 1), "hexahedron"))
    import meshio

    pts = np.random.default_rng(0).uniform(size=(27, 3))  # a 27-node hexahedron
    meshio.write(str(tmp_path / "hex27.vtu"),
                 meshio.Mesh(pts, [("hexahedron27", np.arange(27)[None, :])]))
    return tmp_path


CASES = {
    "unknown cell type": (GOOD.replace("mesh.msh", "hex27.vtu"),
                          "unsupported cell type.*hexahedron27"),
    "missing set": (GOOD.replace('set = "xmin"', 'set = "nowhere"'),
                    "set 'nowhere' not found"),
    "malformed case": (GOOD.replace("[material]", "[material"), "malformed TOML"),
    "missing mesh": (GOOD.replace("mesh.msh", "absent.msh"), "mesh file not found.*absent.msh"),
    "unknown key": (GOOD.replace("nu = 0.3", "nu = 0.3\nEE = 3.0"), "EE"),
    "bad number": (GOOD.replace("E = 1000.0", "E = 'hard'"), "'E' must be a number"),
}


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("what", list(CASES))
def test_bad_input_exits_with_message(what, n, folder):
    text, pattern = CASES[what]
    path = folder / f"bad{n}.toml"
    path.write_text(text)
    proc = run_cli(["solve", str(path), "--out", str(folder / "out")], n=n, timeout=120)
    assert proc.returncode != 0
    import re

    assert re.search(pattern, proc.stderr), proc.stderr


def test_missing_case_file(tmp_path):
    proc = run_cli(["solve", str(tmp_path / "nope.toml")])
    assert proc.returncode != 0 and "case file not found" in proc.stderr


@pytest.mark.parametrize("snippet,pattern", [
    ("[steps]\ntimes = [1.0, 0.5]\n", "increasing"),
    ("[[pressure]]\nset = 'xmax'\n", "give exactly one of 'value', 'expression'"),
    ("[centrifugal]\nomega = 10.0\n", "positive 'rho'"),
    ("[solver]\nlinear_solver = 'magic'\n", "gamg' or 'mumps'"),
    ("[temperature]\nvalue = 1.0\nfile = 'T.npy'\n", "exactly one of"),
    ("[sets.a]\nkind = 'edges'\nwhere = 'x == 0'\n", "kind must be"),
    ("[[dirichlet]]\nset = 'xmin'\ncomponents = ['w']\n", "components"),
    ("[rom]\nhyper = 'deim'\n", "hyper must be 'ecm' or 'nnls'"),
    ("[rom]\nindicator = ['sigma', 'X']\n", "X have no Gappy basis"),
    ("[rom]\nindicator = []\n", "indicator must list"),
    ("[rom]\nblock_mb = 0\n", "'block_mb' must be positive"),
])
def test_case_validation_names_the_key(snippet, pattern):
    with pytest.raises(RomError, match=pattern):
        parse_case(GOOD + snippet, "/tmp/x.toml")


def test_nan_in_temperature_is_reported(folder):
    np.save(folder / "T.npy", np.full(27, np.nan))
    path = folder / "nan.toml"
    path.write_text(GOOD + "[temperature]\nfile = 'T.npy'\n")
    proc = run_cli(["solve", str(path), "--out", str(folder / "out")], n=2)
    assert proc.returncode != 0 and "NaN" in proc.stderr, proc.stderr
