"""README and the documentation site: the quick start runs as written, the set-up commands are the
ones CI runs, every link resolves, and the site builds with ``mkdocs build --strict``.

The quick start is executed in a scratch directory holding a copy of ``configs/`` whose timing
budgets are cut to the test suite's (``FAST`` in conftest.py): the commands and the code are
README's, character for character; only how long each case is timed differs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
# README's two set-up commands, exactly; .ci/run runs the second (keep the three in step)
SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/adbench run",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -q",
)
FAST_TIMING = "time_budget_s: 0.05\nmin_sample_s: 0.0005\nmin_rounds: 3\nmax_rounds: 6\n"


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a Markdown text (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text, in order: (language, code)."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def shell_commands(code: str) -> list[list[str]]:
    """A shell block's commands, one a line, comments dropped, as argument lists."""
    return [argv for line in code.splitlines() if (argv := shlex.split(line, comments=True))]


def fast_copy(configs: Path, into: Path) -> None:
    """`configs` copied into `into`, each run file's timing settings replaced by FAST_TIMING."""
    shutil.copytree(configs, into, ignore=shutil.ignore_patterns("__pycache__"))
    for path in into.glob("*.yaml"):
        text = re.sub(r"^(time_budget_s|min_sample_s|min_rounds|max_rounds):.*\n", "",
                      path.read_text(encoding="utf-8"), flags=re.M)  # fmt: skip
        body, n = re.subn(r"^families:", FAST_TIMING + "families:", text, count=1, flags=re.M)
        assert n == 1, path
        path.write_text(body, encoding="utf-8")


def test_fast_copy_shortens_every_run_file(tmp_path):
    fast_copy(ROOT / "configs", tmp_path / "configs")
    for path in (tmp_path / "configs").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        assert text.count("time_budget_s:") == 1 and "time_budget_s: 0.05" in text, path
    assert (tmp_path / "configs" / "my_functions.py").is_file()  # example.yaml's callables


def test_readme_holds_the_two_setup_commands_ci_runs():
    text = README.read_text(encoding="utf-8")
    setup = section(text, "Set-up: two commands")
    for command in SETUP:
        assert command in setup.splitlines(), command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install, test = SETUP[1].split(" && ")[1:]
    assert f"{install.replace('pip install', 'pip install -q')} && {test}" in ci


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"


def run_shell(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """One README command; `adbench` is this interpreter's `python -m adbench` on this tree."""
    assert argv[0] == "adbench", f"README's quick start runs {argv[0]!r}; teach this test"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "adbench", *argv[1:]],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_quick_start_runs_as_written(tmp_path, monkeypatch):
    """Every shell command and Python block of README's quick start, in README's order, in a
    scratch directory (configs/ copied there with short budgets): each command exits 0 and does
    what its comment says."""
    fast_copy(ROOT / "configs", tmp_path / "configs")
    quick = blocks(section(README.read_text(encoding="utf-8"), "Quick start"))
    python = [code for lang, code in quick if lang == "python"]
    shell = [code for lang, code in quick if lang in ("bash", "sh", "console")]
    assert shell and python, "README's quick start lost its examples"
    assert {lang for lang, _ in quick} <= {"bash", "sh", "console", "python", ""}
    ran = []
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for lang, code in quick:
        if lang == "python":
            exec(compile(code, "README.md (quick start)", "exec"), namespace)
            res = namespace["res"]  # each notebook block ends with a Results in `res`
            assert (Path(res.path) / "results.csv").is_file()  # type: ignore[attr-defined]
            assert len(res.verdicts) > 0  # type: ignore[attr-defined]
            ran.append("python")
        elif lang:  # a shell block ("" is an output listing)
            for argv in shell_commands(code):
                done = run_shell(argv, tmp_path)
                assert done.returncode == 0, f"{shlex.join(argv)}: {done.stderr[-2000:]}"
                check_effect(argv, tmp_path)
                ran.append(argv[1])
    assert "run" in ran and "report" in ran and "python" in ran, ran


def check_effect(argv: list[str], cwd: Path) -> None:
    """What a command of the quick start leaves behind: `--out DIR` a results directory with its
    verdicts, `--output FILE` a non-empty file, `init` a run file and a factory stub."""
    options = dict(zip(argv, [*argv[1:], ""], strict=True))
    if argv[1] == "run" and "--out" in options and "--dry-run" not in argv:
        assert (cwd / options["--out"] / "verdicts.csv").is_file(), argv
    if "--output" in options:
        assert (cwd / options["--output"]).read_text(encoding="utf-8").strip(), argv
    if argv[1] == "init":
        assert (cwd / "run.yaml").is_file() and (cwd / "my_functions.py").is_file()


def test_docs_site_builds_strictly(tmp_path):
    """``mkdocs build --strict`` (mkdocs.yml at the root): a broken link, anchor, page left out
    of the nav or unresolvable API reference fails; the reference is rendered from this tree's
    docstrings; nothing in the site loads from the network (no Google fonts)."""
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr[-3000:]
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "load_results" in api and "adbench.api.run" in api
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, page
