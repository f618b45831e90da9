"""Policies: regions from verdicts, the JSON round trip, lookups, refusals, and the CLI."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import pandas as pd
import pytest
from typer.testing import CliRunner

import adbench
from adbench.analysis import policy as pol
from adbench.cli import app

runner = CliRunner()
BASELINE = Path(__file__).resolve().parent.parent / "results" / "baselines" / "ci"
KIND = str(jax.devices()[0].device_kind)


def _tables(cases, device_kind=KIND):
    """results + verdicts tables for (family, d_in, d_out, recommended, tie_set) cases."""
    res, ver = [], []
    for family, d_in, d_out, rec, ties in cases:
        key = {
            "case_id": f"{family}/{d_in}x{d_out}",
            "family": family,
            "task": "jacobian",
            "d_in": d_in,
            "d_out": d_out,
            "batch": 1,
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
