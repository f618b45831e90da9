"""Policies: regions from verdicts, the JSON round trip, lookups, refusals, and the CLI."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import adbench
from adbench.analysis import policy as pol
from adbench.cli import app

runner = CliRunner()
BASELINE = Path(__file__).resolve().parents[2] / "results" / "baselines" / "ci"
KIND = str(jax.devices()[0].device_kind)


def _tables(cases, device_kind=KIND, batch=1):
    """results + verdicts tables for (family, d_in, d_out, recommended, tie_set) cases."""
    res, ver = [], []
    for family, d_in, d_out, rec, ties in cases:
        key = {
            "case_id": f"{family}/{d_in}x{d_out}/{batch}",
            "family": family,
            "task": "jacobian",
            "d_in": d_in,
            "d_out": d_out,
            "batch": batch,
            "host": "h",
            "device": "cpu:0",
        }
        res.append({**key, "device_kind": device_kind, "strategy": "jacfwd"})
        ver.append({**key, "recommended": rec, "tie_set": ties})
    return pd.DataFrame(res), pd.DataFrame(ver)


def test_regions_split_at_geometric_midpoints_where_the_recommendation_changes():
    points = [
        (10.0, "tie", ("jacfwd", "jacrev")),
        (1000.0, "jacfwd", ()),
        (100.0, "jacfwd", ()),
        (10000.0, "jacfwd", ()),
    ]
    regions = pol.regions_of(points)
    assert [r.recommended for r in regions] == ["tie", "jacfwd"]
    assert regions[0].upto == pytest.approx(math.sqrt(10 * 100))  # not the arithmetic 55
    assert regions[1].upto is None
    assert regions[0].tie_set == ("jacfwd", "jacrev")
    assert regions[1].sizes == (100.0, 1000.0, 10000.0)


def test_regions_that_disagree_at_one_size_say_none():
    regions = pol.regions_of([(5.0, "jacfwd", ()), (5.0, "jacrev", ()), (50.0, "jacrev", ())])
    assert [r.recommended for r in regions] == ["none", "jacrev"]


def test_from_tables_axes_and_lookup():
    res, ver = _tables(
        [
            ("power", 1, 10, "tie", "jacfwd|jacrev"),
            ("power", 1, 1000, "jacfwd", ""),
            ("sq", 100, 100, "jacrev", ""),
            ("sq", 1000, 1000, "jacfwd", ""),
            ("grid", 10, 1000, "jacfwd", ""),
            ("grid", 1000, 10, "jacrev", ""),
        ]
    )
    p = pol.from_tables(res, ver, {"jax_version": "9.9"}, source="runs/x")
    by = {e.family: e for e in p.entries}
    assert (by["power"].axis, by["power"].fixed) == ("d_out", 1)
    assert by["sq"].axis == "d_in=d_out" and by["grid"].axis == "d_in/d_out"
    assert p.jax_version == "9.9" and p.device_kinds == (KIND,)
    # boundary sqrt(10 * 1000) = 100: 99 is still in the tie region, 101 is not
    assert p.lookup("power", "jacobian", KIND, 1, 99).strategies == ("jacfwd", "jacrev")
    assert p.lookup("power", "jacobian", KIND, 1, 101).strategies == ("jacfwd",)
    beyond = p.lookup("power", "jacobian", KIND, 1, 10**6)
    assert beyond.strategies == ("jacfwd",) and "outside the measured" in beyond.why
    assert p.lookup("power", "jacobian", KIND, 2, 100).strategies == ()  # d_in differs
    assert p.lookup("sq", "jacobian", KIND, 200, 200).strategies == ("jacrev",)
    assert p.lookup("sq", "jacobian", KIND, 200, 100).strategies == ()  # not square
    assert p.lookup("grid", "jacobian", KIND, 30, 3000).strategies == ("jacfwd",)
    assert p.lookup("nope", "jacobian", KIND, 1, 1).strategies == ()
    assert p.lookup("power", "hessian", KIND, 1, 10).strategies == ()
    assert p.lookup("power", "jacobian", "other", 1, 10).strategies == ()


def test_json_round_trip(tmp_path):
    res, ver = _tables([("power", 1, 10, "tie", "jacrev|jacfwd"), ("power", 1, 1000, "jacfwd", "")])
    p = pol.from_tables(res, ver, {"jax_version": jax.__version__}, source="r")
    path = tmp_path / "policy.json"
    path.write_text(p.to_json())
    assert pol.load(path) == p
    assert json.loads(p.to_json())["version"] == pol.POLICY_VERSION


def test_unusable_on_another_device_kind_or_jax_version():
    res, ver = _tables([("power", 1, 10, "jacfwd", "")])
    p = pol.from_tables(res, ver, {"jax_version": "1.2.3"})
    assert "jax 1.2.3" in (p.unusable(KIND, "9.9.9") or "")
    assert "'TPU v9'" in (p.unusable("TPU v9", "1.2.3") or "")
    assert p.unusable(KIND, "1.2.3") is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not JSON"),
        ('{"format": "other"}', "not an adbench policy"),
        ('{"format": "adbench-policy", "version": 99}', "policy version 99"),
        ('{"format": "adbench-policy", "version": 1, "device_kinds": []}', "'jax_version'"),
        (
            '{"format": "adbench-policy", "version": 1, "jax_version": "1", "device_kinds": [],'
            ' "entries": [{"axis": "d_out", "fixed": 1, "regions": [{"upto": 5, '
            '"recommended": "jacfwd", "tie_set": [], "sizes": []}]}]}',
            "upto",
        ),
    ],
)
def test_malformed_policy_files_are_one_line_value_errors(tmp_path, text, words):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=words) as info:
        pol.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(ValueError, match="no such policy file"):
        pol.load(tmp_path / "absent.json")
    with pytest.raises(ValueError, match="no such policy file"):
        adbench.jacobian(jnp.sin, policy=tmp_path / "absent.json", family="x")


# --- adbench.jacobian with a policy ------------------------------------------------------------


def _policy_file(tmp_path, rec, *, kind=KIND, version=None):
    res, ver = _tables([("power", 1, 10, rec, "jacfwd|jacrev"), ("power", 1, 100, rec, "")], kind)
    p = pol.from_tables(res, ver, {"jax_version": version or jax.__version__}, source="test")
    path = tmp_path / "policy.json"
    path.write_text(p.to_json())
    return path


def _power(x):
    return x[0] ** jnp.arange(50, dtype=x.dtype)


def test_jacobian_follows_a_policy_that_covers_the_case(tmp_path):
    # the prediction says jacfwd for R^1 -> R^50; the policy says jacrev and wins
    x = jnp.array([0.9])
    assert adbench.jacobian(_power).choose(x) == "jacfwd"
    jac = adbench.jacobian(_power, policy=_policy_file(tmp_path, "jacrev"), family="power")
    assert jac.choose(x) == "jacrev"
    assert "policy" in jac.explain(x)
    assert jnp.allclose(jac(x), jax.jacfwd(_power)(x))
    # a family the policy lacks is a mistake (a did-you-mean); one whose entry does not cover
    # the case (another task here) leaves the decision to the prediction
    with pytest.raises(ValueError, match="no family 'powr' in the policy; did you mean 'power'"):
        adbench.jacobian(_power, policy=_policy_file(tmp_path, "jacrev"), family="powr")
    hes = adbench.hessian(
        lambda v: jnp.sum(v**3), policy=_policy_file(tmp_path, "jacrev"), family="power"
    )
    assert "no entry" in hes.explain(jnp.ones(3)) and "prediction" in hes.explain(jnp.ones(3))


def test_a_policy_tie_is_broken_by_the_prediction(tmp_path):
    jac = adbench.jacobian(_power, policy=_policy_file(tmp_path, "tie"), family="power")
    assert jac.choose(jnp.array([0.9])) == "jacfwd"


@pytest.mark.parametrize("other", ["kind", "jax"])
def test_a_policy_from_elsewhere_warns_and_predicts(tmp_path, other):
    path = (
        _policy_file(tmp_path, "jacrev", kind="TPU v9")
        if other == "kind"
        else _policy_file(tmp_path, "jacrev", version="0.0.1")
    )
    jac = adbench.jacobian(_power, policy=path, family="power")
    with pytest.warns(UserWarning, match="not using policy"):
        assert jac.choose(jnp.array([0.9])) == "jacfwd"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decided once per shape: no second warning
        assert jac.choose(jnp.array([0.5])) == "jacfwd"


# --- the command line ------------------------------------------------------------------------


def test_cli_policy_from_a_version_1_directory(tmp_path):
    out = tmp_path / "policy.json"
    r = runner.invoke(app, ["policy", str(BASELINE), "--output", str(out)])
    assert r.exit_code == 0, r.output
    p = pol.load(out)
    families = {e.family for e in p.entries}
    assert {"power", "mean_squares", "linear"} <= families
    power = next(e for e in p.entries if e.family == "power")
    assert power.regions[-1].recommended == "jacfwd"
    assert [f.name for f in tmp_path.iterdir()] == ["policy.json"]  # no temporary left


def test_cli_policy_to_stdout():
    r = runner.invoke(app, ["policy", str(BASELINE)])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["format"] == "adbench-policy"


@pytest.mark.parametrize("case", ["missing_dir", "not_results", "output_dir_missing"])
def test_cli_policy_bad_input_exits_2_and_writes_nothing(tmp_path, case):
    src = {
        "missing_dir": tmp_path / "nope",
        "not_results": tmp_path,
        "output_dir_missing": BASELINE,
    }
    out = tmp_path / ("absent/p.json" if case == "output_dir_missing" else "p.json")
    r = runner.invoke(app, ["policy", str(src[case]), "--output", str(out)])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1
    assert not out.exists()


# --- round 3: boundaries, batch, the axis rule, patch releases, tampered files ----------------


def test_a_size_exactly_at_the_geometric_midpoint_belongs_to_the_region_above():
    res, ver = _tables([("power", 1, 100, "jacrev", ""), ("power", 1, 10000, "jacfwd", "")])
    p = pol.from_tables(res, ver, {"jax_version": "9.9"})
    (entry,) = p.entries
    assert entry.regions[0].upto == 1000.0  # sqrt(100 * 10000), exact in floating point
    assert p.lookup("power", "jacobian", KIND, 1, 999).strategies == ("jacrev",)
    assert p.lookup("power", "jacobian", KIND, 1, 1000).strategies == ("jacfwd",)  # [1000, inf)
    assert "region [1000, inf)" in p.lookup("power", "jacobian", KIND, 1, 1000).why


def test_the_policy_axis_is_the_crossover_axis():
    from adbench.analysis import axis

    sets = {
        "one_d_in": [(1, 10), (1, 100)],
        "one_d_out": [(10, 1), (100, 1)],
        "square": [(10, 10), (100, 100)],
        "grid": [(10, 100), (100, 10)],
        "single_non_square": [(3, 7)],
    }
    for family, pairs in sets.items():
        res, ver = _tables([(family, a, b, "jacfwd", "") for a, b in pairs])
        (entry,) = pol.from_tables(res, ver, {"jax_version": "1"}).entries
        want, fixed = axis.axis_of([a for a, _ in pairs], [b for _, b in pairs])
        assert entry.axis == want, family
        assert entry.fixed == (None if math.isnan(fixed) else int(fixed)), family


def test_policy_entries_are_looked_up_by_batch():
    r1, v1 = _tables([("power", 1, 10, "jacfwd", ""), ("power", 1, 100, "jacfwd", "")], batch=1)
    r8, v8 = _tables([("power", 1, 10, "jacrev", ""), ("power", 1, 100, "jacrev", "")], batch=8)
    p = pol.from_tables(pd.concat([r1, r8]), pd.concat([v1, v8]), {"jax_version": "1"})
    assert [e.batch for e in p.entries] == [1, 8]
    assert p.lookup("power", "jacobian", KIND, 1, 50, batch=1).strategies == ("jacfwd",)
    assert p.lookup("power", "jacobian", KIND, 1, 50, batch=8).strategies == ("jacrev",)
    assert p.lookup("power", "jacobian", KIND, 1, 50, batch=4).strategies == ()


def test_adbench_jacobian_looks_the_policy_up_at_its_batch(tmp_path):
    r1, v1 = _tables([("power", 1, 10, "jacfwd", ""), ("power", 1, 100, "jacfwd", "")], batch=1)
    r8, v8 = _tables([("power", 1, 10, "jacrev", ""), ("power", 1, 100, "jacrev", "")], batch=8)
    meta = {"jax_version": jax.__version__}
    path = tmp_path / "policy.json"
    path.write_text(pol.from_tables(pd.concat([r1, r8]), pd.concat([v1, v8]), meta).to_json())
    xs = jnp.full((8, 1), 0.9)
    batched = adbench.jacobian(_power, policy=path, family="power", batched=True)
    assert batched.choose(xs) == "jacrev" and batched.choice(xs).source == "policy"
    assert "batch 8" in batched.explain(xs)
    np.testing.assert_allclose(batched(xs), jax.vmap(jax.jacfwd(_power))(xs), rtol=1e-5)
    single = adbench.jacobian(_power, policy=path, family="power")
    assert single.choose(xs[0]) == "jacfwd" and "batch 1" in single.explain(xs[0])


def test_same_release_up_to_the_patch_number():
    assert pol.same_release("0.10.2", "0.10.3")
    assert pol.same_release("0.10.2", "0.10.3.dev20260101")
    assert pol.same_release("1.0", "1.0.1")
    assert not pol.same_release("0.10.2", "0.11.0")
    assert not pol.same_release("0.10.2", "1.10.2")
    assert pol.same_release("nightly", "nightly") and not pol.same_release("nightly", "0.10.2")


def _bump_patch(version):
    major, minor, patch = (version.split(".") + ["0", "0"])[:3]
    return f"{major}.{minor}.{int(''.join(c for c in patch if c.isdigit()) or 0) + 1}"


def test_a_policy_from_another_patch_release_is_used_with_a_note(tmp_path):
    path = _policy_file(tmp_path, "jacrev", version=_bump_patch(jax.__version__))
    jac = adbench.jacobian(_power, policy=path, family="power")
    x = jnp.array([0.9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jac.choose(x) == "jacrev"
    assert "used across patch releases" in jac.explain(x)


@pytest.mark.parametrize(
    ("rec", "chosen"),
    [("linearize", "linearize"), ("jacrev_chunked", "jacrev_chunked")],
)
def test_a_policy_verdict_beyond_the_default_candidates_is_used(tmp_path, rec, chosen):
    jac = adbench.jacobian(_power, policy=_policy_file(tmp_path, rec), family="power")
    x = jnp.array([0.9])
    assert jac.choose(x) == chosen and "beyond the default candidates" in jac.explain(x)
    np.testing.assert_allclose(jac(x), jax.jacfwd(_power)(x), rtol=1e-5)


def test_a_policy_never_turns_an_exact_laplacian_into_an_estimate_unasked(tmp_path):
    res, ver = _tables([("u", 3, 1, "hutchinson", ""), ("u", 30, 1, "hutchinson", "")])
    res["task"] = ver["task"] = "laplacian"
    path = tmp_path / "policy.json"
    path.write_text(pol.from_tables(res, ver, {"jax_version": jax.__version__}).to_json())

    def u(x):
        return jnp.sum(jnp.sin(x) ** 2)

    x = jnp.linspace(0.1, 1.0, 3)
    lap = adbench.laplacian(u, policy=path, family="u")
    with pytest.warns(UserWarning, match="recommends hutchinson, not used: it is an estimate"):
        assert lap.choose(x) != "hutchinson"
    np.testing.assert_allclose(lap(x), jnp.trace(jax.hessian(u)(x)), rtol=1e-5)
    listed = adbench.laplacian(
        u, policy=path, family="u", strategies=["hessian_trace", "hutchinson"]
    )
    assert listed.choose(x) == "hutchinson"


def test_a_policy_verdict_that_cannot_be_used_warns_why(tmp_path):
    x = jnp.array([0.9])
    sparse = adbench.jacobian(_power, policy=_policy_file(tmp_path, "sparse"), family="power")
    with pytest.warns(UserWarning, match="recommends sparse, not used: its result is a BCOO"):
        assert sparse.choose(x) == "jacfwd"
    listed = adbench.jacobian(
        _power,
        policy=_policy_file(tmp_path, "linearize"),
        family="power",
        strategies=["jacfwd", "jacrev"],
    )
    with pytest.warns(UserWarning, match=r"not among strategies=\['jacfwd', 'jacrev'\]"):
        assert listed.choose(x) == "jacfwd"
    allowed = adbench.jacobian(
        _power,
        policy=_policy_file(tmp_path, "sparse"),
        family="power",
        strategies=["jacfwd", "sparse"],
    )
    assert allowed.choose(x) == "sparse"


def test_undecided_and_unknown_verdicts_are_left_out_of_a_policy():
    res, ver = _tables(
        [
            ("power", 1, 10, "jacrev", ""),
            ("power", 1, 100, "undecided", ""),
            ("power", 1, 300, "no_such_strategy", ""),
            ("power", 1, 1000, "jacfwd", ""),
        ]
    )
    ver.loc[3, "outcome"] = "decided"
    (entry,) = pol.from_tables(res, ver, {"jax_version": "1"}).entries
    assert [(r.recommended, r.sizes) for r in entry.regions] == [
        ("jacrev", (10.0,)),
        ("jacfwd", (1000.0,)),
    ]
    assert entry.regions[0].upto == pytest.approx(100.0)  # sqrt(10 * 1000): across the gap
    # the outcome column says undecided even where recommended holds a (provisional) name
    ver.loc[3, "outcome"] = "undecided"
    (entry,) = pol.from_tables(res, ver, {"jax_version": "1"}).entries
    assert [r.recommended for r in entry.regions] == ["jacrev"]
    ver["recommended"] = "undecided"
    with pytest.raises(pol.PolicyError, match="no decided verdict"):
        pol.from_tables(res, ver, {"jax_version": "1"})


def _valid():
    res, ver = _tables([("power", 1, 10, "tie", "jacfwd|jacrev"), ("power", 1, 1000, "jacfwd", "")])
    return json.loads(pol.from_tables(res, ver, {"jax_version": "1"}, source="s").to_json())


def _region(data, i=0):
    return data["entries"][0]["regions"][i]


@pytest.mark.parametrize(
    ("tamper", "key", "words"),
    [
        (lambda d: _region(d).update(sizes=[None]), "regions[0].sizes", "positive numbers"),
        (lambda d: _region(d).update(sizes=["abc"]), "regions[0].sizes", "positive numbers"),
        (lambda d: _region(d).update(sizes=[]), "regions[0].sizes", "at least one"),
        (lambda d: _region(d).update(sizes=[500]), "regions[0].sizes", "outside the region"),
        (lambda d: _region(d).update(upto=True), "regions[0].upto", "got True"),
        (lambda d: _region(d, 1).update(recommended="jacfwdd"), "regions[1].recommended", "jacfwd"),
        (lambda d: _region(d).update(tie_set=["jacfwd"]), "regions[0].tie_set", "two or more"),
        (lambda d: _region(d).update(tie_set=["jacfwd", "nope"]), "tie_set", "'nope'"),
        (lambda d: _region(d, 1).update(tie_set=["jacrev"]), "regions[1].tie_set", "only a tie"),
        (lambda d: d["entries"][0].update(task="hessain"), "entries[0].task", "'hessain'"),
        (lambda d: d["entries"][0].update(batch=0), "entries[0].batch", "positive"),
        (lambda d: d["entries"][0].update(fixed=True), "entries[0].fixed", "positive integer"),
        (lambda d: d["entries"].append(d["entries"][0]), "entries[1]", "a second entry"),
        (lambda d: d.update(device_kinds=[1]), "device_kinds", "list of names"),
    ],
)
def test_tampered_policy_values_are_policy_errors_naming_the_key(tmp_path, tamper, key, words):
    data = _valid()
    tamper(data)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(pol.PolicyError) as info:
        pol.load(path)
    message = str(info.value)
    assert key in message and words in message and str(path) in message, message
    assert "\n" not in message


def test_a_misspelt_strategy_in_a_policy_file_gets_a_did_you_mean(tmp_path):
    data = _valid()
    _region(data, 1)["recommended"] = "jacfwdd"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(pol.PolicyError, match="did you mean 'jacfwd'"):
        pol.load(path)
