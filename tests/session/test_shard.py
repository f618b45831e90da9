"""`adbench run --shard I/N`: a deterministic, order-independent, cost-balanced split whose
shards, merged, are exactly one unsharded run; bad --shard values exit 2 writing nothing."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from adbench.cli import app
from adbench.config.cases import Case
from adbench.session.shard import ENTRY_S, Shard, assign, cost_s, parse_shard, select
from adbench.store import schema

runner = CliRunner()

FIVE = """\
name: five
families:
  - name: power
    builtin: power
    d_in: [1]
    d_out: [10, 20, 30]
  - name: mean_squares
    builtin: mean_squares
    d_in: [10, 20]
    d_out: [1]
"""
# the same cases, families and sizes listed in another order
FIVE_REORDERED = """\
name: five
families:
  - name: mean_squares
    builtin: mean_squares
    d_in: [20, 10]
    d_out: [1]
  - name: power
    builtin: power
    d_in: [1]
    d_out: [30, 10, 20]
"""


def case(
    family: str, d_in: int, d_out: int, strategies: tuple[str, ...] = ("jacfwd", "jacrev")
) -> Case:
    return Case(
        family=family,
        d_in=d_in,
        d_out=d_out,
        source="test",
        factory=lambda: None,
        strategies=strategies,
    )


@pytest.mark.parametrize(
    ("text", "index", "count"), [("2/3", 2, 3), (" 1 / 1 ", 1, 1), ("3/3", 3, 3)]
)
def test_parse_shard(text, index, count):
    assert parse_shard(text) == Shard(index, count)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "-1/3", "a/b", "3", "1/2/3", "", "1.5/3"])
def test_parse_shard_refuses(text):
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_shards_partition_the_cases_whatever_their_order():
    cases = [case("f", i, j) for i in (1, 5, 50) for j in (1, 10, 100, 1000)]
    chosen = {
        k: {c.case_id for c in select(cases, Shard(k, 3), time_budget_s=1.0)} for k in (1, 2, 3)
    }
    shuffled = cases[:]
    random.Random(1).shuffle(shuffled)
    for k in (1, 2, 3):
        again = select(shuffled, Shard(k, 3), time_budget_s=1.0)
        assert {c.case_id for c in again} == chosen[k]
    assert set().union(*chosen.values()) == {c.case_id for c in cases}
    assert sum(len(s) for s in chosen.values()) == len(cases)  # none twice


def test_equal_cases_spread_evenly():
    # 8 cases of equal cost on 3 shards: 3, 3, 2 (a hash of the case id gives 1-5 by chance)
    costs = {f"f/{i}x1": 1.0 for i in range(8)}
    sizes = pd.Series(assign(costs, 3)).value_counts().sort_index().tolist()
    assert sizes == [3, 3, 2]


def test_balance_follows_the_cost_not_the_count():
    # one case as costly as the six others together gets a shard of its own
    costs = {"big/1x1": 6.0, **{f"small/{i}x1": 1.0 for i in range(6)}}
    owner = assign(costs, 2)
    assert [c for c, k in owner.items() if k == owner["big/1x1"]] == ["big/1x1"]


def test_cost_grows_with_the_jacobian_and_the_strategies():
    small, big = case("f", 10, 10), case("f", 1000, 10000)
    assert cost_s(big, 1.0) > cost_s(small, 1.0)
    more = case("f", 10, 10, strategies=("jacfwd", "jacrev", "linearize", "sparse"))
    assert cost_s(more, 1.0) > cost_s(small, 1.0)


def test_cost_counts_the_batch():
    """A batch of B points builds B Jacobians: B times the entries (issue 19: a mutant that
    dropped the batch from the estimate survived)."""
    one = case("f", 1000, 1000)
    batched = dataclasses.replace(one, batch=50)
    per_entry = len(one.strategies) * ENTRY_S
    assert cost_s(batched, 1.0) - cost_s(one, 1.0) == pytest.approx(per_entry * 1000 * 1000 * 49)
    # and the split follows it: the batched case alone outweighs the other three together
    cases = [batched, case("f", 1000, 1001), case("f", 1000, 1002), case("f", 1000, 1003)]
    mine = select(cases, Shard(1, 2), time_budget_s=0.0)
    theirs = select(cases, Shard(2, 2), time_budget_s=0.0)
    assert {len(mine), len(theirs)} == {1, 3}
    assert [batched] in (mine, theirs)


# --------------------------------------------------------------------------- the command


def run(config: Path, out: Path, *extra: str):
    return runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet", *extra])


def keys(out: Path) -> list[tuple[str, str, str]]:
    df = pd.read_csv(out / schema.RESULTS_FILE)
    return sorted(zip(df["case_id"], df["device"], df["strategy"], strict=True))


def test_three_shards_merged_are_one_unsharded_run(write_config, tmp_path):
    config = write_config(FIVE)
    for k in (1, 2, 3):
        r = run(config, tmp_path / f"s{k}", "--shard", f"{k}/3")
        assert r.exit_code == 0, r.output
        meta = json.loads((tmp_path / f"s{k}" / schema.META_FILE).read_text())
        assert meta["shard"]["index"] == k and meta["shard"]["count"] == 3
        assert meta["shard"]["of_cases"] == 5 and meta["host"]
    whole = tmp_path / "whole"
    assert run(config, whole).exit_code == 0
    merged = tmp_path / "merged"
    r = runner.invoke(
        app, ["merge", *(str(tmp_path / f"s{k}") for k in (1, 2, 3)), "--out", str(merged)]
    )
    assert r.exit_code == 0, r.output
    got = keys(merged)
    assert got == keys(whole)
    assert len(got) == len(set(got)) == 10  # 5 cases x 2 strategies, none twice
    shard_cases = [
        set(pd.read_csv(tmp_path / f"s{k}" / "results.csv")["case_id"]) for k in (1, 2, 3)
    ]
    assert all(shard_cases) and sum(map(len, shard_cases)) == 5


def test_a_reordered_config_gives_the_same_shards(write_config, tmp_path):
    a = write_config(FIVE, name="a.yaml")
    b = write_config(FIVE_REORDERED, name="b.yaml")
    from adbench.config.cases import expand
    from adbench.config.model import load_config

    for k in (1, 2):
        picked = [
            {c.case_id for c in select(expand(load_config(p)), Shard(k, 2), time_budget_s=0.05)}
            for p in (a, b)
        ]  # fmt: skip
        assert picked[0] == picked[1]


@pytest.mark.parametrize(
    ("value", "message"),
    [("4/3", "between 1 and N"), ("x", "expected I/N"), ("6/6", "no case falls in this shard")],
)
def test_bad_shard_exits_2_and_writes_nothing(write_config, tmp_path, value, message):
    config = write_config(FIVE)
    out = tmp_path / "out"
    r = run(config, out, "--shard", value)
    assert r.exit_code == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_resume_refuses_another_shard(write_config, tmp_path):
    config = write_config(FIVE)
    out = tmp_path / "out"
    assert run(config, out, "--shard", "1/3").exit_code == 0
    before = (out / schema.RESULTS_FILE).read_bytes()
    r = run(config, out, "--shard", "2/3", "--resume")
    assert r.exit_code == 2 and "shard 1/3" in r.stderr and "shard 2/3" in r.stderr
    r = run(config, out, "--resume")
    assert r.exit_code == 2 and "unsharded" in r.stderr
    assert (out / schema.RESULTS_FILE).read_bytes() == before
