"""The command line's own faults (issue 18): help text without Python types, one output-path rule
for every command, default directories that never collide, explicit memory units, plural
words, and a word when a run is compared with itself."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from conftest import FAST
from typer.testing import CliRunner

from adbench.cli import app
from adbench.session import checks
from adbench.session.request import RequestError, RunRequest, parse_bytes
from adbench.session.shard import Shard
from adbench.store import schema

runner = CliRunner()
COMMANDS = [
    "run", "report", "merge", "compare", "export", "validate", "schema", "init", "show",
    "predict", "policy",
]  # fmt: skip
GOLDEN_RUN_HELP = Path(__file__).resolve().parent.parent / "data" / "help" / "run.txt"


def help_of(*words: str) -> str:
    r = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "100"}, prog_name="adbench")
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_python_types(command):
    text = help_of(command)
    usage = text.splitlines()[0]
    assert "[[" not in usage and "{" not in usage, usage
    for bad in ("<path>", "<str>", "<list[", "<float", "<int>", "<bool>"):
        assert bad not in text, (command, bad)


def test_usage_lines_name_their_arguments_plainly():
    assert help_of("run").splitlines()[0] == "Usage: adbench run [OPTIONS] [CONFIG]"
    assert help_of("merge").splitlines()[0] == "Usage: adbench merge [OPTIONS] DIR..."
    assert help_of("compare").splitlines()[0] == "Usage: adbench compare [OPTIONS] BASELINE CURRENT"
    assert help_of("show").splitlines()[0] == "Usage: adbench show [OPTIONS] DIR [CASE]"


def test_top_level_help_does_not_say_two_strategies():
    text = help_of()
    assert "Measure both" not in text and "forward mode (jax.jacfwd) or reverse" not in text
    assert "linearize" in text and "sparse" in text


def test_run_help_is_the_golden_one():
    """`adbench run --help` is kept as it reads (tests/data/help/run.txt): an accidental change
    of an option's name, default or help shows here."""
    assert help_of("run") == GOLDEN_RUN_HELP.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- output paths


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    d = tmp_path_factory.mktemp("front")
    config = d / "one.yaml"
    config.write_text(
        FAST + "name: one\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 3]]}\n"
    )
    out = d / "out"
    r = runner.invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    return out


def copy(stored: Path, where: Path) -> Path:
    shutil.copytree(stored, where)
    return where


def files_of(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    "words",
    [
        ["compare", "A", "B", "-o", "A/results.csv"],
        ["compare", "A", "B", "-o", "B/meta.json"],
        ["compare", "A", "B", "-f", "json", "-o", "C/verdicts.csv"],  # a third results directory
        ["policy", "A", "-o", "A/results.csv"],
        ["policy", "A", "-o", "C/samples.csv"],
        ["report", "A", "-o", "A/results.csv"],
        ["report", "A", "-f", "csv", "-o", "C/meta.json"],
        ["export", "A", "-o", "A/meta.json"],
        ["compare", "A", "B", "-o", "LINK"],  # a symbolic link to A/results.csv
    ],
    ids=lambda w: " ".join(w),
)
def test_no_command_overwrites_a_results_directory_s_own_files(words, stored, tmp_path):
    dirs = {name: copy(stored, tmp_path / name) for name in ("A", "B", "C")}
    (tmp_path / "LINK").symlink_to(dirs["A"] / schema.RESULTS_FILE)
    before = {name: files_of(d) for name, d in dirs.items()}
    args = [str(tmp_path / w) if w[:1] in "ABCL" else w for w in words]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "is a file of the results directory" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert {name: files_of(d) for name, d in dirs.items()} == before


def test_outputs_beside_a_results_directory_are_still_fine(stored, tmp_path):
    a = copy(stored, tmp_path / "A")
    r = runner.invoke(app, ["report", str(a), "-f", "csv", "-o", str(a / "report.csv")])
    assert r.exit_code == 0, r.output
    assert (a / "report.csv").is_file()


# --------------------------------------------------------------------------- the rest


def test_compare_of_a_directory_with_itself_says_so(stored):
    r = runner.invoke(app, ["compare", str(stored), str(stored)])
    assert r.exit_code == 0, r.output
    assert "are the same directory" in r.stderr


def test_merge_of_one_directory_speaks_in_the_singular(stored, tmp_path):
    r = runner.invoke(app, ["merge", str(stored), "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert re.search(r"merged 1 directory: 1 case x device\(s\) from 1 host \(", r.stderr)


def test_memory_units_are_explicit():
    assert parse_bytes("8GiB") == 8 * 2**30
    assert parse_bytes("8gb") == 8 * 10**9  # decimal, as a disk's label says
    assert parse_bytes("512MiB") == 512 * 2**20
    assert parse_bytes("2e9") == 2 * 10**9
    with pytest.raises(RequestError, match=r"say which unit: 8GiB .* or 8GB"):
        parse_bytes("8g")


def test_the_dry_run_states_the_budget_it_read(tmp_path):
    config = tmp_path / "one.yaml"
    config.write_text(
        FAST + "name: one\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 3]]}\n"
    )
    r = runner.invoke(app, ["run", str(config), "--dry-run", "--max-memory", "8GB"])
    assert r.exit_code == 0, r.output
    assert "budget 7.45 GiB" in r.stdout  # 8e9 bytes, not 8 GiB


class _Frozen(dt.datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: ARG003 - every run starts in the same second
        return dt.datetime(2026, 12, 3, 8, 0, 0)


def test_shards_started_in_the_same_second_never_share_a_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(checks.dt, "datetime", _Frozen)
    config = tmp_path / "two.yaml"
    config.write_text(
        FAST + "name: two\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 3], [3, 2]]}\n"
    )
    for shard in ("1/2", "2/2"):
        r = runner.invoke(app, ["run", str(config), "--shard", shard, "--quiet"])
        assert r.exit_code == 0, r.output
    made = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert made == ["two-20261203-080000-shard1of2", "two-20261203-080000-shard2of2"]


def test_two_unsharded_runs_in_one_second_take_two_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(checks.dt, "datetime", _Frozen)
    config = tmp_path / "one.yaml"
    config.write_text(
        FAST + "name: one\nfamilies:\n  - {name: lin, builtin: linear, points: [[2, 3]]}\n"
    )
    first = checks.prepare(RunRequest(config=config))
    second = checks.prepare(RunRequest(config=config))  # the first has claimed its name
    assert first.out_dir.name == "one-20261203-080000"
    assert second.out_dir.name == "one-20261203-080000-2"
    assert checks.default_out("one", Shard(2, 3)).name.endswith("-shard2of3")
