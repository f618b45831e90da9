"""Valid run files: defaults, sizes, callables. (Bad ones: tests/test_bad_configs.py.)"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from adbench.config import model as config_module
from adbench.config.cases import expand
from adbench.config.model import ConfigError, load_config, parse_config
from adbench.session.resume import config_conflict as resume_conflict
from adbench.store import schema

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_documented_ones(write_config):
    path = write_config(
        """\
        families:
          - {name: p, builtin: power, d_in: [1], d_out: [3]}
        """,
        fast=False,
    )
    loaded = load_config(path)
    c = loaded.config
    assert (c.task, c.strategies, c.modes, c.batch, c.chunk_size) == (
        "jacobian",
        None,
        None,
        1,
        None,
    )
    # no strategies listed: every strategy of the task
    # no strategies listed: every strategy of the task but those that need a structure
    # (per_example, planned where declared)
    assert loaded.plan("p").strategies == schema.DEFAULT_STRATEGIES["jacobian"]
    assert "per_example" not in loaded.plan("p").strategies
    assert c.dtype == "float32"
    assert c.jit is True
    assert c.tie_margin == pytest.approx(0.10)
    assert c.time_budget_s == pytest.approx(2.0)
    assert c.name == "run"


def test_grid_expands_d_in_major_and_points_keep_order(write_config):
    path = write_config(
        """\
        families:
          - {name: lin, builtin: linear, d_in: [2, 3], d_out: [4, 5]}
          - {name: pts, builtin: linear, points: [[7, 1], [1, 7]]}
        """
    )
    ids = [c.case_id for c in expand(load_config(path))]
    assert ids == ["lin/2x4", "lin/2x5", "lin/3x4", "lin/3x5", "pts/7x1", "pts/1x7"]


def test_duplicate_point_is_measured_once(write_config):
    path = write_config("families:\n  - {name: l, builtin: linear, points: [[2, 3], [2, 3]]}\n")
    assert [c.case_id for c in expand(load_config(path))] == ["l/2x3"]


def test_scalar_size_is_a_one_element_list(write_config):
    path = write_config("families:\n  - {name: p, builtin: power, d_in: 1, d_out: [4]}\n")
    assert load_config(path).config.families[0].sizes() == [(1, 4)]


def test_issue_example_with_user_callable_resolves_relative_to_yaml():
    loaded = load_config(REPO / "configs" / "example.yaml")
    cases = {c.case_id: c for c in expand(loaded)}
    assert "residuals/5x5000" in cases and "residuals/20x20000" in cases
    res = cases["residuals/5x5000"]
    assert res.source == "callable:my_functions.py:residuals"
    assert dict(res.params) == {"scale": 0.5}
    fn = res.factory(2, 3, **res.params)
    assert callable(fn)


def test_module_callable(write_config, tmp_path, monkeypatch):
    (tmp_path / "userpkg_mod.py").write_text("def f(d_in, d_out):\n    return lambda x: x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_config("families:\n  - {name: m, callable: 'userpkg_mod:f', points: [[2, 2]]}\n")
    (case,) = expand(load_config(path))
    assert case.source == "callable:userpkg_mod:f"


def test_error_names_file_line_and_key(tmp_path):
    text = "families:\n  - name: p\n    builtin: power\n    d_in: [1]\n    d_out: [0]\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, tmp_path / "x.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'x.yaml'}:5: families[0].d_out:")


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"x.yaml:1: time_budget: unknown key; did you mean "
        r"'time_budget_s'\?",
    ):
        parse_config(
            "time_budget: 1\nfamilies: [{name: p, builtin: power, points: [[1, 2]]}]\n",
            tmp_path / "x.yaml",
        )


def test_shipped_configs_are_valid():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        assert expand(load_config(path)), path


def test_task_names_are_the_schema_s():
    assert typing.get_args(config_module.Task) == schema.TASKS


def test_modes_is_the_old_name_of_strategies(write_config):
    path = write_config(
        "modes: [jacrev, jacfwd]\nfamilies:\n  - {name: p, builtin: power, d_in: 1, d_out: 3}\n",
        fast=False,
    )
    loaded = load_config(path)
    assert loaded.plan("p").strategies == ("jacrev", "jacfwd")
    (case,) = expand(loaded)
    assert case.strategies == ("jacrev", "jacfwd") and case.task == "jacobian"


def test_families_inherit_or_override_task_strategies_batch_and_chunk(write_config):
    path = write_config(
        """\
        task: laplacian
        batch: 64
        chunk_size: 16
        families:
          - {name: u, builtin: mlp_u, d_in: [2, 4]}
          - {name: u1, builtin: mlp_u, d_in: [2], batch: 1, strategies: [taylor, hvp]}
          - name: r
            builtin: rosenbrock
            task: hessian
            d_in: [6]
            strategies: [fwd_over_rev, sparse]
          - name: b
            builtin: broyden
            task: jacobian
            points: [[5, 5]]
            strategies: [jacfwd, jacfwd_chunked]
            chunk_size: 2
        """,
        fast=False,
    )
    loaded = load_config(path)
    u, u1, r, b = (loaded.plan(n) for n in ("u", "u1", "r", "b"))
    assert (u.task, u.batch, u.sizes) == ("laplacian", 64, ((2, 1), (4, 1)))
    assert u.strategies == schema.DEFAULT_STRATEGIES["laplacian"]  # estimators on request
    assert (u1.batch, u1.strategies) == (1, ("taylor", "hvp"))
    assert (r.task, r.strategies, r.batch, r.sizes) == (
        "hessian", ("fwd_over_rev", "sparse"), 64, ((6, 1),)
    )  # fmt: skip
    assert (b.task, b.chunk_size, b.sizes) == ("jacobian", 2, ((5, 5),))
    assert u.chunk_size == 16  # inherited; only used by chunked strategies
    ids = [c.case_id for c in expand(loaded)]
    assert ids == ["u/2x1/b64", "u/4x1/b64", "u1/2x1", "r/6x1/b64", "b/5x5/b64"]
    assert loaded.planned_strategies() == {
        "u": schema.DEFAULT_STRATEGIES["laplacian"],
        "u1": ("taylor", "hvp"),
        "r": ("fwd_over_rev", "sparse"),
        "b": ("jacfwd", "jacfwd_chunked"),
    }


def test_changing_a_family_s_strategies_is_a_resume_conflict(write_config):
    family = "families:\n  - {name: p, builtin: power, d_in: 1, d_out: 3%s}\n"
    before = load_config(write_config(family % "", "a.yaml", fast=False))
    after = load_config(write_config(family % ", strategies: [jacrev]", "b.yaml", fast=False))
    stored = before.config.model_dump(mode="json")
    assert resume_conflict(stored, before.config) is None
    assert "strategies was None" in (resume_conflict(stored, after.config) or "")


def test_named_sizes_argnums_and_per_example_plan(write_config, tmp_path):
    """Named sizes are a grid, the first key outermost; declaring per_example adds its strategy
    to the inherited list, but not to a family's own list."""
    (tmp_path / "fns.py").write_text(
        "def net(width, n_points, seed=0):\n    return None\n", encoding="utf-8"
    )
    path = write_config(
        """\
        families:
          - name: a
            callable: fns.py:net
            sizes: {width: [8, 4], n_points: 3}
            argnums: [0, 2]
            per_example: 1
          - name: b
            callable: fns.py:net
            sizes: {width: [8], n_points: [3]}
            per_example: 1
            strategies: [jacrev]
        """
    )
    loaded = load_config(path)
    a, b = loaded.plan("a"), loaded.plan("b")
    assert a.named == ((("width", 8), ("n_points", 3)), (("width", 4), ("n_points", 3)))
    assert (a.argnums, a.per_example, a.sizes) == ((0, 2), 1, ())
    assert a.strategies == ("jacfwd", "jacrev", "per_example")  # FAST's modes + declared
    assert b.strategies == ("jacrev",)
    ids = [c.case_id for c in expand(loaded)]
    assert ids == ["a/width=8,n_points=3", "a/width=4,n_points=3", "b/width=8,n_points=3"]
    # stored by the YAML key's name, so meta.json reads like the run file
    dumped = loaded.config.model_dump(mode="json")["families"][0]
    assert dumped["sizes"] == {"width": [8, 4], "n_points": [3]} and "named_sizes" not in dumped


def test_named_sizes_refused_values(write_config):
    for sizes, message in (
        ("{width: [4, 4]}", "width: size 4 is listed twice"),
        ("{width: []}", "width: must be a non-empty list of positive integers"),
        ("{}", "must map factory parameter names to lists of sizes"),
        ("{2w: [1]}", "size names are parameter names"),
    ):
        path = write_config(f"families:\n  - {{name: a, callable: 'fns.py:net', sizes: {sizes}}}\n")
        with pytest.raises(ConfigError, match="families\\[0\\].sizes: ") as err:
            load_config(path)
        assert message in str(err.value), (sizes, str(err.value))
