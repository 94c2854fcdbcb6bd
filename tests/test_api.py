"""The Python API (rom.api) and loadings given from Python (Case.with_fields)."""

import os

import meshio
import numpy as np
import pytest
from test_adaptive import _errors, _rom, _shared_dir

from rom import RomError, api
from rom.loads import NodeSubset, TemperatureLoading
from rom.snapshots import read_snapshots

EXPRESSION = "20 + 600.0 * x * y * (1 - abs(1 - t))"  # the trained case's HOT = 600


def _subset(case):
    from rom.io.meshfile import read_mesh_file

    return NodeSubset.of_mesh(read_mesh_file(case.mesh_file))


def test_with_fields_array_expression_and_file_agree(trained, tmp_path):
    """A loading given from Python as arrays (mesh-file point order) is the expression
    it samples, at the array times; checked as a case file's loading is."""
    _, case, _ = trained
    pts = meshio.read(case.mesh_file).points
    times = [0.0, 0.5, 1.0, 2.0]
    arrays = [20 + 600.0 * pts[:, 0] * pts[:, 1] * (1 - abs(1 - t)) for t in times]
    np.save(tmp_path / "T1.npy", arrays[2])
    by_expr = case.with_fields([{"time": 0.0, "expression": EXPRESSION}], name="expr")
    by_array = by_expr.with_fields([{"time": t, "array": a} for t, a in zip(times, arrays)],
                                   name="arr")
    by_file = case.with_fields([{"time": 0.0, "file": str(tmp_path / "T1.npy")}], "file")
    assert by_array.loading == "arr" and by_array.with_loading("expr") == by_expr
    assert by_array.with_loading("expr").temperature == by_expr.temperature
    nodes = _subset(case)
    for t in times:
        a = TemperatureLoading(by_array.temperature, nodes, 20.0).nodal(t)
        e = TemperatureLoading(by_expr.temperature, nodes, 20.0).nodal(t)
        np.testing.assert_allclose(a, e, rtol=1e-13, atol=1e-12)
    np.testing.assert_array_equal(TemperatureLoading(by_file.temperature, nodes, 20.0)
                                  .nodal(0.3), TemperatureLoading(by_array.temperature,
                                                                  nodes, 20.0).nodal(1.0))
    # two arrays differ by their values (digest), not by their identity
    other = case.with_fields([{"time": t, "array": a + (t == 1.0)}
                              for t, a in zip(times, arrays)], name="arr2")
    assert other.temperature != by_array.temperature
    assert case.with_fields([{"time": t, "array": a.copy()} for t, a in zip(times, arrays)],
                            name="arr3").temperature == by_array.temperature


@pytest.mark.parametrize("fields, message", [
    ([{"time": 0.0, "array": np.ones(5)}], "has 5 values, the mesh has"),
    ([{"time": 0.0, "array": [1.0, np.nan]}], "finite numbers"),
    ([{"time": 1.0, "value": 20.0}, {"time": 0.5, "value": 30.0}], "times must increase"),
    ([{"time": 0.0, "value": 20.0, "expression": "x"}], "exactly one of"),
    ([{"time": 0.0, "value": 20.0, "valu": 1.0}], "unknown key"),
    ([{"time": 0.0, "thermal": {"hot": 1.0}}], "no [thermal] section"),
    ("20", "must be a list of dicts"),
])
def test_with_fields_errors_name_the_problem(trained, fields, message):
    _, case, _ = trained
    with pytest.raises(RomError, match=None) as info:
        c = case.with_fields(fields, name="bad")
        TemperatureLoading(c.temperature, _subset(case), 20.0).nodal(0.0)
    assert message in str(info.value)
    assert "bad" in str(info.value) or "values" in str(info.value)


def test_with_fields_keeps_its_own_copy_of_an_array_and_takes_numpy_numbers(trained):
    _, case, _ = trained
    n = len(meshio.read(case.mesh_file).points)
    buf = np.full(n, 100.0)
    c = case.with_fields([{"time": np.float32(0.0), "array": buf},
                          {"time": np.int64(1), "value": np.float64(30.0)}], name="buf")
    buf[:] = 999.0  # the caller refills its buffer: the loading keeps its values
    T = TemperatureLoading(c.temperature, _subset(case), 20.0).nodal(0.0)
    assert np.all(T == 100.0)
    with pytest.raises(RomError, match="give 'array' alone, not with 'expression'"):
        case.with_fields([{"time": 0.0, "array": buf, "expression": "x"}], name="both")


def test_with_fields_refuses_a_name_the_case_uses_for_another_loading(trained):
    _, case, _ = trained
    c = case.with_fields([{"time": 0.0, "value": 20.0}], name="one")
    with pytest.raises(RomError, match="already has another loading"):
        c.with_fields([{"time": 0.0, "value": 30.0}], name="one")


@pytest.mark.mpi
def test_study_is_the_adaptive_command_and_carries_its_enrichment(trained, comm):
    """A Study's first run of a loading is the adaptive command's run (same HF steps,
    the same errors against the HF file); its in-memory HF run is the HF file (the
    extremes of both); a second run of the same loading, from the enriched ROM, needs
    fewer HF steps; a loading given as arrays at the step times runs as its
    expression (plain ROM and HF)."""
    tmp, _, files = trained
    case, path = _rom(trained, comm)
    d = _shared_dir(comm, tmp, "api")
    expr = case.with_fields([{"time": 0.0, "expression": EXPRESSION}], name="hot")
    ref = api.run_adaptive(expr, path, comm, os.path.join(d, "ada"), tol=1e-2)
    ref_u, ref_p = _errors(os.path.join(d, "ada"), files[1])
    study = api.Study(case, path, comm, tol=1e-2)
    first = study.run(expr, reference=True)
    assert first["hf_steps"] == ref["n_enrichments"] > 0
    assert first["errors"]["U"] == pytest.approx(ref_u, rel=1e-6)
    assert first["errors"]["p"] == pytest.approx(ref_p, rel=1e-6)
    hf = read_snapshots(files[1], (), ("sigma", "p"))
    vm = api.von_mises(hf["qp/sigma"]).max()
    assert first["hf"]["extremes"]["von_mises_all"]["value"] == pytest.approx(vm, rel=1e-8)
    assert first["hf"]["extremes"]["p_all"]["value"] == pytest.approx(hf["qp/p"].max(),
                                                                      rel=1e-8)
    for key in ("von_mises_all", "p_all"):  # the ROM's extremes, within its error
        rom_v, hf_v = first["extremes"][key]["value"], first["hf"]["extremes"][key]["value"]
        assert abs(rom_v - hf_v) <= 0.05 * hf_v, (key, rom_v, hf_v)
    second = study.run(expr)
    assert second["hf_steps"] < first["hf_steps"] / 2 + 0.5, (first, second)
    # the same loading as arrays at the step times (read on the mesh by the HF steps,
    # on the reduced points' nodes by the ROM)
    pts = meshio.read(case.mesh_file).points
    arrays = [{"time": t, "array": 20 + 600.0 * pts[:, 0] * pts[:, 1] * (1 - abs(1 - t))}
              for t in (0.0, *case.times)]
    arr = case.with_fields(arrays, name="hot_arrays")
    a = api.run_online(arr, path, comm, os.path.join(d, "plain_arr"))
    b = api.run_online(expr, path, comm, os.path.join(d, "plain_expr"))
    np.testing.assert_allclose(a["res"]["gamma"], b["res"]["gamma"], rtol=1e-9, atol=1e-14)
    ext = api.Extremes(comm, study.points)
    study.hf_run(arr, ext)
    assert ext.result()["von_mises_all"]["value"] == pytest.approx(vm, rel=1e-8)
    # a study that took no HF step saves its archive as it read it (a new revision of
    # the same ROM)
    plain = api.Study(case, path, comm, tol=1e30)
    assert plain.run(expr)["hf_steps"] == 0
    plain.save(os.path.join(d, "no_step.h5"))
    from rom.archive import read_archive

    a, b = read_archive(os.path.join(d, "no_step.h5")), read_archive(path)
    assert a["attrs"]["revision"] == b["attrs"].get("revision", 0)
    np.testing.assert_array_equal(a["basis"]["U"], b["basis"]["U"])
    np.testing.assert_array_equal(a["reduced"]["points"], b["reduced"]["points"])


@pytest.mark.mpi
def test_greedy_training_adds_the_candidate_the_rom_predicts_worst(trained, comm):
    """The greedy design scores candidate loadings by the plain ROM's largest error
    indicator and adds the HF run of the worst one. From the run of HOT = 300, among
    HOT = 330, 450 and 600, the indicator ranks the candidates as the ROM's true errors
    against their own HF runs do (the independent reference), the greedy adds 600, and
    the ROM of the new design predicts the other two better; with a tolerance above
    every score nothing is added."""
    from dataclasses import replace

    from test_adaptive import ALL_FIELDS

    tmp, case, files = trained
    case = replace(case, rom=replace(case.rom, gappy=ALL_FIELDS))  # the indicator's
    d = _shared_dir(comm, tmp, "greedy")
    def candidates(base):
        return {f"h{h}": base.with_fields([{"time": 0.0, "expression":
                                            f"20 + {h}.0 * x * y * (1 - abs(1 - t))"}],
                                          name=f"h{h}") for h in (330, 450, 600)}

    cands = candidates(case)
    rom0 = os.path.join(d, "rom0.h5")
    api.build_rom(case, files[:1], comm, rom0)
    refs, true = {}, {}
    for name, c in cands.items():
        refs[name] = api.run_hf(c, comm, os.path.join(d, f"ref_{name}"))["snapshots"]
        api.run_online(c, rom0, comm, os.path.join(d, f"on_{name}"))
        true[name] = _errors(os.path.join(d, f"on_{name}"), refs[name])
    out = api.greedy_training(case, cands, files[:1], comm, os.path.join(d, "g"), n_add=1,
                              tol=0.0)
    scores = out["scores"][0]
    assert sorted(scores, key=scores.get) == sorted(true, key=lambda k: true[k][1]), (
        scores, true)
    assert [c["name"] for c in out["chosen"]] == ["h600"], out["chosen"]
    assert out["chosen"][0]["score"] == max(scores.values())
    assert len(out["archives"]) == 2 and len(out["training"]) == 2
    for name in ("h330", "h450"):  # the new design's ROM
        api.run_online(cands[name], out["archives"][-1], comm, os.path.join(d, f"g_{name}"))
        eu, ep = _errors(os.path.join(d, f"g_{name}"), refs[name])
        assert ep < true[name][1], (name, ep, true[name])
    # (a case with local bases: the greedy ignores them, in the candidates too)
    clustered = replace(case, rom=replace(case.rom, clusters=2))
    none = api.greedy_training(clustered, candidates(clustered), files[:1], comm,
                               os.path.join(d, "none"), n_add=2, tol=1e30)
    assert none["chosen"] == [] and "below" in none["stopped"] and len(none["archives"]) == 1


def test_greedy_training_leaves_out_candidates_that_cannot_run(trained, comm, tmp_path,
                                                               monkeypatch):
    """A candidate whose temperature cannot be set up (a file of the wrong size) is
    left out at scoring, one whose HF run fails (here made to fail: a Newton that does
    not converge) is left out after it: each with its message in ``dropped``, and the
    design goes on with the next largest score."""
    from dataclasses import replace

    from test_adaptive import ALL_FIELDS

    _, case, files = trained
    case = replace(case, rom=replace(case.rom, gappy=ALL_FIELDS))
    np.save(tmp_path / "short.npy", np.full(5, 300.0))

    def hot(h):
        return [{"time": 0.0, "expression": f"20 + {h} * x * y * (1 - abs(1 - t))"}]

    cands = {"short": case.with_fields([{"time": 0.0, "file": str(tmp_path / "short.npy")}],
                                       name="short"),
             "h900": case.with_fields(hot("900.0"), name="h900"),
             "h600": case.with_fields(hot("600.0"), name="h600")}
    import rom.hf

    run_hf, calls = rom.hf.run_hf, []

    def diverging(c, comm, **kw):
        calls.append(c.loading)
        if c.loading == "h900":
            raise RomError("Newton did not converge in 25 iterations at t = 0.25")
        return run_hf(c, comm, **kw)

    monkeypatch.setattr(rom.hf, "run_hf", diverging)
    out = api.greedy_training(case, cands, files[:1], comm, str(tmp_path / "g"), n_add=1,
                              tol=0.0)
    scores = out["scores"][0]
    assert np.isnan(scores["short"]) and scores["h900"] > scores["h600"] > 0, scores
    assert [c["name"] for c in out["chosen"]] == ["h600"], out
    assert set(out["dropped"]) == {"short", "h900"}, out["dropped"]
    assert "5 values" in out["dropped"]["short"]
    assert out["dropped"]["h900"].startswith("HF run failed: Newton did not converge")
    assert len(out["archives"]) == 2 and out["stopped"] == "n_add = 1 runs added"
    assert calls == ["h900", "h600"]
    # started again in the same folder: the complete HF run is reused, the failed one
    # tried again; the same design
    again = api.greedy_training(case, cands, files[:1], comm, str(tmp_path / "g"),
                                n_add=1, tol=0.0)
    assert calls == ["h900", "h600", "h900"]
    assert again["chosen"] == out["chosen"] and again["training"] == out["training"]
