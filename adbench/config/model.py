"""YAML run files -> validated :class:`RunConfig`. No JAX here.

Errors are :class:`ConfigError` with one line naming the file, the line and the key, e.g.
``my.yaml:7: families[1].d_out: sizes must be positive integers (got -3)``.

What a family measures (task, strategies, batch, chunk size, each given by the family or
inherited from the run) is resolved by adbench.config.plan; those checks need both levels, so they
run after pydantic's, on the validated config, and still name the line of the key at fault.

The models themselves are adbench.config.spec (FamilySpec, RunConfig, LoadedConfig,
ConfigError) and adbench.config.sizes (SizeRange); they are re-exported here, so
``from adbench.config.model import ...`` names the whole run-file front. The signature checks of
factories are in adbench.config.calls.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from adbench.config import plan as planning

# re-exported: importers of adbench.config.model (session.inline) keep working
from adbench.config.calls import factory_call_problem as factory_call_problem
from adbench.config.calls import named_call_problem as named_call_problem
from adbench.config.sizes import MAX_SIZE as MAX_SIZE
from adbench.config.sizes import RangeError as RangeError
from adbench.config.sizes import SizeRange as SizeRange
from adbench.config.spec import NAME_PATTERN as NAME_PATTERN
from adbench.config.spec import ConfigError as ConfigError
from adbench.config.spec import FamilySpec as FamilySpec
from adbench.config.spec import LoadedConfig as LoadedConfig
from adbench.config.spec import RunConfig as RunConfig
from adbench.config.spec import Task as Task
from adbench.errors import first_line
from adbench.store import schema


class _LineLoader(yaml.SafeLoader):
    """The YAML loader of run files: PyYAML's SafeLoader.

    SafeLoader never builds Python objects from tags such as !!python/object, so a run file can
    never execute code; such a tag is a ConfigError (see parse_config).
    """


# A run file is a few dozen values. Aliases can make a short file expand into billions of them
# ("billion laughs"); validating or hashing that would hang, so refuse it up front.
MAX_VALUES = 100_000
MAX_FILE_BYTES = 10 * 2**20


def _compose_lines(
    node: yaml.Node,
    path: tuple[Any, ...],
    out: dict[tuple[Any, ...], int],
    seen: set[int] | None = None,
) -> None:
    """Record the line of every key and item into `out`, keyed by its path; raise on a key
    given twice in one mapping (PyYAML would silently keep the last). Each node is visited
    once, so aliases (even recursive ones) cost nothing here."""
    seen = set() if seen is None else seen
    out[path] = node.start_mark.line + 1
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[Any, int] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            line = k.start_mark.line + 1
            if key in keys:
                where = _fmt_loc((*path, key))
                raise _DuplicateKey(line, f"{where}: key given twice (first on line {keys[key]})")
            keys[key] = line
            out[(*path, key)] = line
            _compose_lines(v, (*path, key), out, seen)
            out[(*path, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _compose_lines(v, (*path, i), out, seen)


class _DuplicateKey(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values `node` stands for once aliases are expanded (capped above MAX_VALUES)."""
    if id(node) in memo:
        return memo[id(node)]
    if id(node) in active:  # an alias to an enclosing node: infinite once expanded
        return MAX_VALUES + 1
    active.add(id(node))
    total = 1
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    for child in children:
        total += _expanded_size(child, memo, active)
        if total > MAX_VALUES:
            break
    active.discard(id(node))
    memo[id(node)] = total
    return total


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s


def _line_for(loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = FamilySpec if loc and loc[0] == "families" else RunConfig
    return [f.alias or name for name, f in model.model_fields.items()]


def _family(loc: tuple[Any, ...], data: Any) -> str:
    """``"family 'name': "`` for a location inside a family, else "" (the run level)."""
    if len(loc) < 2 or loc[0] != "families" or not isinstance(loc[1], int):
        return ""
    try:
        name = data["families"][loc[1]]["name"]
    except (KeyError, IndexError, TypeError):
        return f"family #{loc[1]}: "
    return f"family {name!r}: "


def _message(err: Mapping[str, Any], data: Any = None) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location, message) in adbench's words."""
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, RangeError) and cause.key is not None:
        loc = (*loc, cause.key)  # the range's own key, on its own line
    if kind == "extra_forbidden":
        key = loc[-1]
        close = difflib.get_close_matches(str(key), _valid_keys(loc[:-1]), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return loc, f"unknown key{hint}"
    if kind == "missing":
        return loc, "required key is missing"
    if kind in ("model_type", "dict_type") and len(loc) == 2 and loc[0] == "families":
        return loc, (
            "each family must be a mapping (name, builtin or callable, sizes), "
            f"not {_kind(err.get('input'))}"
        )
    if kind == "too_short" and loc and loc[-1] in ("modes", "strategies"):
        return loc, (
            f"{_family(loc, data)}give at least one strategy, or leave the key out "
            "to measure every strategy of the task"
        )
    if kind == "literal_error" and loc and loc[-1] == "task":
        return loc, (
            f"{_family(loc, data)}unknown task {err.get('input')!r}; "
            f"choose from: {', '.join(schema.TASKS)}"
        )
    if loc == ("seed",):
        return loc, (
            f"must be an integer >= 0, the seed of numpy's random generator "
            f"(got {err.get('input')!r})"
        )
    if loc and loc[-1] in ("batch", "chunk_size") and len(loc) in (1, 3):
        return loc, f"{_family(loc, data)}must be an integer >= 1 (got {err.get('input')!r})"
    if kind == "string_pattern_mismatch":
        return loc, (
            "names may use ASCII letters (A-Z, a-z), digits, '_', '-' and '.', start with a "
            f"letter or digit, and be at most 64 characters (got {err.get('input')!r})"
        )
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    return loc, msg


def _plain_size(node: yaml.Node) -> int:
    """How many values `node` holds as written (each node counted once, aliases not expanded)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            stack.extend(x for pair in n.value for x in pair)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return len(seen)


def _too_big(node: yaml.Node, path: Path) -> str:
    """Why a run file past MAX_VALUES is refused: its own size, or its aliases."""
    plain = _plain_size(node)
    if plain <= MAX_VALUES:
        return (
            f"{path}: expands to more than {MAX_VALUES} values through YAML aliases "
            "(&anchor / *alias); a run file is plain, small data"
        )
    families = ""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == "families" and isinstance(v, yaml.SequenceNode):
                families = f" ({len(v.value)} families)"
    return (
        f"{path}: holds {plain} values{families}; a run file may hold at most {MAX_VALUES} "
        "values (keys, items and scalars); split it into several run files"
    )


def _problems(
    exc: ValidationError, path: Path, lines: Mapping[tuple[Any, ...], int], data: Any = None
) -> list[str]:
    """Every pydantic error as one `file:line: key: message` line, in file order.

    Echoes are dropped: a misspelt key also makes the key it meant "missing", and a location
    reported twice is said once.
    """
    errors = exc.errors()
    meant: set[tuple[Any, ...]] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            close = difflib.get_close_matches(str(loc[-1]), _valid_keys(loc[:-1]), n=1)
            if close:
                meant.add((*loc[:-1], close[0]))
    out: list[tuple[int, int, str]] = []
    said: set[tuple[Any, ...]] = set()
    for err in errors:
        loc, msg = _message(err, data)
        if loc in said or (err["type"] == "missing" and loc in meant):
            continue
        said.add(loc)
        # a key missing from the top level has no line of its own
        line = None if err["type"] == "missing" and len(loc) == 1 else _line_for(loc, lines)
        where = f"{path}:{line}" if line else str(path)
        key = _fmt_loc(loc)
        text = f"{where}: {key}: {msg}" if key else f"{where}: {msg}"
        # unknown keys first (they explain what follows), then file order, unplaced last
        out.append((err["type"] != "extra_forbidden", line if line else 10**9, text))
    return [text for *_, text in sorted(out, key=lambda t: (t[0], t[1]))]


def validate_mapping(data: Any, path: Path) -> RunConfig:
    """A RunConfig from already-parsed data (a dict from YAML or from Python code); every
    problem at once in one ConfigError. `path` names the source in messages."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping of keys (name, families, ...), "
            f"not a {type(data).__name__}"
        )
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(*_problems(exc, path, {}, data)) from None
    _check_plans(config, path, {})
    return config


def _check_plans(config: RunConfig, path: Path, lines: Mapping[tuple[Any, ...], int]) -> None:
    """Each family's task, strategies, batch and chunk size fit together (adbench.config.plan);
    every family's problem is listed at once."""
    problems = []
    for i in range(len(config.families)):
        try:
            planning.plan(config, i)
        except planning.PlanError as exc:
            line = _line_for(exc.loc, lines)
            where = f"{path}:{line}" if line else str(path)
            problems.append(f"{where}: {_fmt_loc(exc.loc)}: {exc}")
    if problems:
        raise ConfigError(*problems)


def parse_config(text: str, path: Path) -> LoadedConfig:
    """Validate YAML text read from `path`. Raises ConfigError with a `file:line: key: message`
    line for every problem found."""
    lines: dict[tuple[Any, ...], int] = {}
    try:
        # compose first: it builds no objects, so the checks below run before any value exists
        node = yaml.compose(text, Loader=_LineLoader)
        if node is not None:
            if _expanded_size(node, {}, set()) > MAX_VALUES:
                raise ConfigError(_too_big(node, path))
            _compose_lines(node, (), lines)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        tag = re.search(r"tag '([^']*)'", str(exc.problem))
        name = tag.group(1).replace("tag:yaml.org,2002:", "!!") if tag else ""
        what = f"YAML tag {name!r}" if tag else "this YAML construct"
        raise ConfigError(
            f"{where}: {what} is not allowed; a run file holds plain data "
            "(mappings, lists, strings, numbers)"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark, context = exc.problem_mark, exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        started = ""
        if exc.context and context is not None and (mark is None or context.line != mark.line):
            started = f" ({exc.context} started on line {context.line + 1})"
        raise ConfigError(f"{where}: YAML syntax error: {exc.problem}{started}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {first_line(exc, with_type=False)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a run file") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; it needs at least a `families` list")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: the file must be a mapping of keys (name, families, ...), "
            f"not a {type(data).__name__}"
        )
    if "families" in data and isinstance(data["families"], list) and not data["families"]:
        raise ConfigError(f"{path}:{lines.get(('families',), 1)}: families: the list is empty")
    if "families" in data and not isinstance(data["families"], list):
        raise ConfigError(
            f"{path}:{lines.get(('families',), 1)}: families: must be a list of families "
            f"(`- name: ...` items), not {_kind(data['families'])}"
        )
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(*_problems(exc, path, lines, data)) from None
    _check_plans(config, path, lines)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    family_lines = {}
    for i, fam in enumerate(config.families):
        key = "callable" if fam.callable is not None else "builtin"
        line = lines.get(("families", i, key))
        if line:
            family_lines[fam.name] = line
    key_lines = {_fmt_loc(loc): line for loc, line in lines.items() if loc}
    return LoadedConfig(
        config=config,
        path=path,
        text_hash=digest,
        family_lines=family_lines,
        key_lines=key_lines,
    )


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a run file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a YAML run file")
    if not p.is_file():  # a FIFO or a device such as /dev/zero could block or never end
        raise ConfigError(f"{p}: not a regular file")
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{p}: {p.stat().st_size} bytes; a run file is at most {MAX_FILE_BYTES} bytes"
            )
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    return parse_config(text, p)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"a {type(value).__name__} ({value!r:.40})"


def default_config_path() -> Path:
    """configs/seed.yaml: in the checkout, or the copy shipped inside the package."""
    package = Path(__file__).resolve().parent.parent  # adbench/
    for candidate in (package.parent / "configs" / "seed.yaml", package / "data" / "seed.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("configs/seed.yaml not found; pass a run file: adbench run CONFIG")
