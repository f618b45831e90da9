"""Both doors refuse alike: every refused option combination, given to `adbench run` and to
`adbench.run(...)`, gets the same one-line refusal, and nothing is written.

The command line prints each problem as one `error:` line and exits 2; adbench.run raises the
typed error whose problems are those lines (RequestError, ConfigError) or whose message is the
line (ResultsError). One case = (CLI words, adbench.run keywords, a fragment of the message).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import adbench
from adbench.cli import app
from adbench.config.model import ConfigError, load_config
from adbench.session.request import RequestError
from adbench.store import schema
from adbench.store.results import ResultsError

runner = CliRunner()

RUN = """\
name: doors
modes: [jacfwd, jacrev]
time_budget_s: 0.05
families:
  - {name: lin, builtin: linear, points: [[2, 2], [3, 3]]}
  - {name: quad, builtin: power, points: [[1, 2]]}
"""
SEARCHED = """\
name: searched
modes: [jacfwd, jacrev]
time_budget_s: 0.05
families:
  - name: lin
    builtin: linear
    d_in: [100]
    d_out: {from: 10, to: 10000, search: crossover}
"""


def stored_dir(d: Path, config: Path, **meta: Any) -> Path:
    """A results directory as a run of `config` leaves it, with `meta` overriding meta.json."""
    d.mkdir()
    record = {
        "schema_version": schema.SCHEMA_VERSION,
        "config": load_config(config).config.model_dump(mode="json"),
    }
    for key, value in meta.items():
        if key == "config_changes":
            record["config"].update(value)
        else:
            record[key] = value
    (d / schema.META_FILE).write_text(json.dumps(record))
    (d / schema.RESULTS_FILE).write_text("case_id\n")
    return d


def cli_problems(args: list[str]) -> list[str]:
    r = runner.invoke(app, ["run", *args])
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert r.stdout == "" and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), r.stderr
    return [line.removeprefix("error: ") for line in lines]


def api_problems(target: str, kwargs: dict[str, Any]) -> list[str]:
    with pytest.raises((RequestError, ConfigError, ResultsError)) as err:
        adbench.run(target, **kwargs)
    exc = err.value
    if isinstance(exc, RequestError | ConfigError):
        return list(exc.problems)
    return [str(exc)]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# (id, CLI words after CONFIG, adbench.run keywords, a fragment of the refusal). "OUT" is the
# results directory, "STORED" a stored run of the same config (made per case as needed).
CASES: list[tuple[str, list[str], dict[str, Any], str]] = [
    (
        "resume+force",
        ["--resume", "--force"],
        {"resume": True, "force": True},
        "cannot be combined",
    ),
    ("address-no-ray", ["--address", "h:1"], {"address": "h:1"}, "--address needs --engine ray"),
    (
        "ray+timeout",
        ["--engine", "ray", "--case-timeout", "5"],
        {"engine": "ray", "case_timeout": 5.0},
        "--case-timeout is not supported with --engine ray",
    ),
    (
        "instructions+gpu",
        ["--measure", "instructions", "--device", "gpu"],
        {"measure": "instructions", "device": "gpu"},
        "not on --device gpu",
    ),
    (
        "instructions+ray",
        ["--measure", "instructions", "--engine", "ray"],
        {"measure": "instructions", "engine": "ray"},
        "not with --engine ray",
    ),
    ("timeout-0", ["--case-timeout", "0"], {"case_timeout": 0.0}, "seconds > 0"),
    ("timeout-neg", ["--case-timeout", "-3"], {"case_timeout": -3.0}, "seconds > 0"),
    ("timeout-inf", ["--case-timeout", "inf"], {"case_timeout": float("inf")}, "at most"),
    ("timeout-1e12", ["--case-timeout", "1e12"], {"case_timeout": 1e12}, "at most"),
    ("shard-text", ["--shard", "x"], {"shard": "x"}, "expected I/N"),
    ("shard-order", ["--shard", "3/2"], {"shard": "3/2"}, "I must be between 1 and N"),
    ("shard-zero", ["--shard", "0/0"], {"shard": "0/0"}, "N must be at least 1"),
    (
        "shard-empty",
        ["--shard", "3/3", "--only", "quad"],
        {"shard": "3/3", "only": ["quad"]},
        "no case falls in this shard",
    ),  # fmt: skip
    ("memory-word", ["--max-memory", "lots"], {"max_memory": "lots"}, "expected a size"),
    ("memory-negative", ["--max-memory", "-5GiB"], {"max_memory": "-5GiB"}, "expected a size"),
    ("memory-bare-unit", ["--max-memory", "8g"], {"max_memory": "8g"}, "say which unit"),
    ("only-unknown", ["--only", "lni"], {"only": ["lni"]}, "did you mean 'lin'"),
    ("device-absent", ["--device", "tpu"], {"device": "tpu"}, "--device tpu: no such device"),
    ("out-exists", [], {}, "results already exist"),
    ("resume-config", ["--resume"], {"resume": True}, "cannot resume: time_budget_s was 9.0"),
    ("resume-shard", ["--resume"], {"resume": True}, "cannot resume: it holds shard 1/2"),
    ("resume-measure", ["--resume"], {"resume": True}, "--measure instructions, not time"),
]


@pytest.mark.parametrize(("case", "words", "kwargs", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_both_doors_refuse_alike(case, words, kwargs, fragment, tmp_path):
    config = tmp_path / "doors.yaml"
    config.write_text(RUN)
    out = tmp_path / "out"
    if case == "out-exists":
        stored_dir(out, config)
    elif case == "resume-config":
        stored_dir(out, config, config_changes={"time_budget_s": 9.0})
    elif case == "resume-shard":
        stored_dir(out, config, shard={"index": 1, "count": 2})
    elif case == "resume-measure":
        stored_dir(out, config, measure="instructions")
    before, existed = snapshot(tmp_path), out.exists()
    from_cli = cli_problems([str(config), "--out", str(out), *words])
    assert snapshot(tmp_path) == before  # nothing written, not even meta.json
    assert out.exists() == existed  # nor an empty directory
    from_api = api_problems(str(config), {"out": out, **kwargs})
    assert snapshot(tmp_path) == before and out.exists() == existed
    assert from_cli == from_api
    assert any(fragment in line for line in from_cli), from_cli


@pytest.mark.parametrize("how", [["--shard", "1/2"], ["--engine", "ray"]])
def test_a_searched_range_is_refused_alike_with_shards_and_ray(how, tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text(SEARCHED)
    out = tmp_path / "out"
    from_cli = cli_problems([str(config), "--out", str(out), *how])
    kwargs = {"shard": "1/2"} if how[0] == "--shard" else {"engine": "ray"}
    assert api_problems(str(config), {"out": out, **kwargs}) == from_cli
    assert "a searched size range" in from_cli[0] and not out.exists()


def test_a_notebook_factory_cannot_go_to_another_process(tmp_path):
    """A lambda cannot be imported by a child: refused before anything runs, whichever option
    needs the child (the command line cannot express such a factory)."""
    for kwargs in ({"case_timeout": 5.0}, {"engine": "ray"}, {"measure": "instructions"}):
        with pytest.raises(RequestError, match="must import the factory"):
            adbench.run(lambda d_in, d_out: None, sizes=[(1, 2)], out=tmp_path / "o", **kwargs)
        assert not (tmp_path / "o").exists()
