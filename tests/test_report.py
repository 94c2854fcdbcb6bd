"""The report's wording, records and plots (rom.report, rom.provenance) on synthetic
data; the report of a pipeline run is checked in test_pipeline.py."""

import os

import h5py
import numpy as np
import pytest

from rom import provenance
from rom.parallel import SerialComm
from rom.provenance import describe_machine, describe_versions, environment
from rom.report import NORMS, _adaptive_plot, _criterion_plot, _plots, _runs_section, speed_text

file_identity, inputs_key = provenance.file_identity, provenance.inputs_key
read_stamp, stamp_file = provenance.read_stamp, provenance.stamp_file


@pytest.mark.parametrize("ratio, text", [(0.6, "1.7x slower"), (0.1, "10x slower"),
                                         (12.3, "12x faster"), (2.54, "2.5x faster"),
                                         (1.02, "about as fast"), (float("nan"), "not timed")])
def test_speed_text_says_slower_when_slower(ratio, text):
    assert speed_text(ratio) == text


def test_norms_are_defined():
    for words in ("relative", "L2 over all steps", "max over steps", "unweighted",
                  "quadrature point", "max_k ||b_k||"):
        assert words in NORMS


@pytest.fixture
def figures(monkeypatch):
    """The figures saved, with their visible axes' labels and titles."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saved = {}

    def savefig(fig, path, *a, **k):
        axes = [ax for ax in fig.axes if ax.axison]
        saved[os.path.basename(str(path))] = [
            (ax.get_xlabel(), ax.get_ylabel(), ax.get_title(),
             # a twin shares the x axis of the first: its label is that one's
             len(ax.get_shared_x_axes().get_siblings(ax)) > 1 and ax is not axes[0])
            for ax in axes]

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def _labelled(saved):
    for name, axes in saved.items():
        for xlabel, ylabel, _, twin in axes:
            assert "[" in ylabel and "]" in ylabel, (name, ylabel)
            assert twin or ("[" in xlabel and "]" in xlabel), (name, xlabel)


def test_plots_have_axis_labels_with_units(tmp_path, figures):
    times = np.linspace(0.5, 2.0, 4)
    err = np.array([1e-4, 2e-4, 3e-4, 1e-4])
    probe = {"node_xyz": np.array([0.25, 1.0, 0.0]), "u_hf": times, "u_rom": times,
             "qp_xyz": np.array([0.0563, 0.9436, 0.9436]), "p_hf": times, "p_rom": times}
    _plots(str(tmp_path), times, err, err, probe, {"length": "mm", "time": "s"})
    _adaptive_plot(str(tmp_path / "a.png"), times, err, 1e-2,
                   np.array([False, True, False, False]), err, [4, 5, 5, 5], [20, 25, 25, 25])
    _criterion_plot(str(tmp_path / "c.png"), [1, 2, 3], [1.0, 0.6, 0.7], 2)
    assert set(figures) == {"errors.png", "probe.png", "a.png", "c.png"}
    _labelled(figures)
    (u_x, u_y, u_title, _), (_, p_y, p_title, _) = figures["probe.png"]
    assert u_x == "time [s]" and u_y == "displacement magnitude |U| [mm]"
    assert "(0.25, 1, 0) mm" in u_title and "(0.0563, 0.9436, 0.9436) mm" in p_title
    assert p_y == "cumulated plastic strain p [-]"


def test_environment_and_stamps(tmp_path):
    import numpy
    import scipy

    env = environment(SerialComm())
    assert env["ranks"] == 1 and env["hosts"] and env["cores"]["logical"] >= 1
    assert env["versions"]["rom"] == "0.1.0"
    assert env["versions"]["numpy"] == numpy.__version__
    assert env["versions"]["scipy"] == scipy.__version__
    assert env["hosts"][0] in describe_machine(env) and "logical CPUs" in describe_machine(env)
    assert f"numpy {numpy.__version__}" in describe_versions(env)
    path = str(tmp_path / "run.h5")
    with h5py.File(path, "w") as f:
        f.attrs["completed_steps"] = 1
    assert read_stamp(path) is None
    stamp_file(path, run_info=env, pipeline_key="abc")
    assert read_stamp(path) == env
    with h5py.File(path, "r") as f:
        assert f.attrs["pipeline_key"] == "abc" and f.attrs["completed_steps"] == 1
    # a file's identity changes when it is rewritten; the key of the inputs is that of
    # their content, whatever the order of the keys
    before = file_identity(path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert file_identity(path) != before and file_identity(path)[0] == before[0]
    assert file_identity(str(tmp_path / "missing"))[1:] == [None, None]
    assert inputs_key({"a": 1, "b": [1, 2]}) == inputs_key({"b": [1, 2], "a": 1})
    assert inputs_key({"a": 1}) != inputs_key({"a": 2})


def test_runs_section_lists_reuse_and_provenance(tmp_path):
    env = dict(environment(SerialComm()), ranks=2, date="2024-05-01T10:00:00+0200")
    made = str(tmp_path / "made.h5")
    old = str(tmp_path / "old.h5")
    with h5py.File(made, "w"):
        pass
    stamp_file(made, run_info=env)
    with h5py.File(old, "w") as f:  # an archive of before the stamps
        f.attrs["created"] = "2023-01-01T00:00:00"
        f.attrs["code_version"] = "0.0.9"
    lines, records = _runs_section([
        {"stage": "thermal fields", "path": None, "reused": True},
        {"stage": "HF training loading a", "path": made, "reused": False},
        {"stage": "offline build (ROM archive)", "path": old, "reused": True}])
    text = "\n".join(lines)
    assert "| thermal fields | reused (up to date) | - | - | - |" in text
    assert "| HF training loading a | run | 2024-05-01T10:00:00+0200 | 2 | E1 |" in text
    assert ("| offline build (ROM archive) | reused (up to date) | 2023-01-01T00:00:00 | "
            "not recorded | not recorded (rom 0.0.9) |") in text
    assert f"* E1: {describe_machine(env)}; {describe_versions(env)}." in text
    assert records[1]["environment"] == env and records[2]["environment"] is None


def test_speed_text_compared():
    assert speed_text(0.6, "the HF run") == "1.7x slower than the HF run"
    assert speed_text(3.21, "the HF run") == "3.2x faster than the HF run"
    assert speed_text(0.98, "the HF run") == "about as fast as the HF run"
