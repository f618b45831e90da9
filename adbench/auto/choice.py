"""The decision for one key (:class:`Choice`) and the words that explain it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from adbench import fmt
from adbench.analysis import predict as pr

FORCED, POLICY, CALIBRATION, PREDICTION, EAGER = (
    "forced",
    "policy",
    "calibration",
    "prediction",
    "eager",
)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Choice:
    """The decision for one key (tree structures, leaf shapes and dtypes of every argument,
    argnums, has_aux, batch, device).

    ``strategy``: the chosen name; ``source``: "forced", "policy", "calibration", "prediction"
    or "eager" (f cannot be traced: JAX's own transform runs it un-jitted); ``why``: one line;
    ``what``: the arguments in a few words; ``costs``: XLA's costs of each compiled candidate;
    ``predicted_s`` / ``measured_s``: seconds per call of each candidate (predicted from the
    costs; timed when calibrated); ``dropped``: candidates left out, with the one-line reason;
    ``notes``: anything else the user should know (a policy from another jax patch release).
    ``compiled``: the :class:`~adbench.auto.program.Program` that runs (None when eager);
    ``eager``: args -> result when ``source`` is "eager".
    """

    strategy: str
    source: str
    why: str
    key: tuple[Any, ...]
    what: str = ""
    device_kind: str = ""
    platform: str = ""
    costs: Mapping[str, pr.Costs] = field(default_factory=_empty)
    predicted_s: Mapping[str, float] = field(default_factory=_empty)
    measured_s: Mapping[str, float] = field(default_factory=_empty)
    dropped: Mapping[str, str] = field(default_factory=_empty)
    notes: tuple[str, ...] = ()
    compiled: Any = field(default=None, repr=False, compare=False)
    eager: Callable[[tuple[Any, ...]], Any] | None = field(default=None, repr=False, compare=False)

    def explain(self, where: str) -> str:
        """The decision, one candidate per line (see :meth:`AutoDerivative.explain`)."""
        head = f"{where}: {self.strategy} for {self.what} on {self.device_kind} ({self.platform})"
        lines = [f"{head}, by {self.source}: {self.why}"]
        for name, costs in self.costs.items():
            parts = [
                f"flops {costs.flops:.4g}",
                f"bytes {costs.bytes_accessed:.4g}",
                f"temp {costs.temp_bytes:.4g} B",
            ]
            if name in self.predicted_s:
                parts.append(f"predicted {fmt.seconds(self.predicted_s[name])}")
            if name in self.measured_s:
                parts.append(f"measured {fmt.seconds(self.measured_s[name])}")
            if costs.loop_trips > 1:
                parts.append(f"loop x{costs.loop_trips}")
            mark = "*" if name == self.strategy else " "
            lines.append(f"  {mark} {name}: " + ", ".join(parts))
        for name, reason in self.dropped.items():
            lines.append(f"    {name}: not a candidate: {reason}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
