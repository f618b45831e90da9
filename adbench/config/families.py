"""Built-in function families: ``name -> factory(d_in, d_out, **params) -> fn | (fn, x0)``.

``fn`` maps x of shape (d_in,) to shape (d_out,); ``mean_squares``, ``rosenbrock``, ``mlp_u`` and
``mlp_loss`` at d_out = 1 return a scalar instead (the scalar families serve the hessian and
laplacian tasks too). The caller chooses x's dtype (float32 or float64); every constant inside
``fn`` is cast to ``x.dtype`` so the functions run under strict dtype promotion and raising rank
promotion. Constants are drawn in the factory from ``numpy.random.default_rng(seed)``, so one case
is the same function in every process. Closed-over constants become literals of the compiled
program: an (d_out, d_in) matrix counts towards compile time and program size.

A factory returns ``(fn, x0)`` (x0: numpy float64, shape (d_in,)) only when the function needs a
particular input to stay finite; otherwise the caller picks x.

``shape`` names the function's natural form: "wide" = few inputs, many outputs (d_out > d_in, the
textbook case for jacfwd), "tall" = many inputs, few outputs (d_in > d_out, jacrev's), "square"
= d_in = d_out, "any" = sizes are free.

jax is imported inside the factories only: config validation imports this module and must stay
fast and JAX-free.

Longer than ~400 lines on purpose: one short factory per built-in family with its parameter check
beside it, so adding a family is one place; nothing here is shared logic that a split would
separate.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

SizeRule = Callable[[int, int, Mapping[str, Any]], "str | None"]
ParamRule = Callable[[Mapping[str, Any]], "str | None"]


@dataclass(frozen=True)
class Builtin:
    """One built-in family.

    ``factory(d_in, d_out, **params)`` validates its arguments (ValueError with the same one-line
    reason as ``check_sizes`` / ``check_params``) and returns ``fn`` or ``(fn, x0)``.
    ``size_rule(d_in, d_out, params)`` and ``param_rule(params)`` hold the family's own checks
    (a reason without the "builtin 'name'" prefix, or None); use the ``check_*`` methods.
    """

    name: str
    summary: str
    shape: str
    factory: Callable[..., Any]
    params: Mapping[str, Any]
    size_rule: SizeRule | None = field(default=None, repr=False, compare=False)
    param_rule: ParamRule | None = field(default=None, repr=False, compare=False)

    def check_params(self, params: Mapping[str, Any]) -> str | None:
        """None if ``params`` are accepted, else a one-line reason."""
        unknown = sorted(set(params) - set(self.params))
        if unknown and not self.params:
            return f"builtin {self.name!r} takes no params (got {unknown[0]!r})"
        if unknown:
            valid = ", ".join(self.params)
            return f"builtin {self.name!r} has no param {unknown[0]!r} (valid: {valid})"
        for key, value in params.items():
            default = self.params[key]
            # bool is an int subclass; `steps: true` in YAML is a mistake, not 1.
            if isinstance(default, int) and not _is_integer(value):
                return f"builtin {self.name!r} param {key!r} must be an integer (got {value!r})"
            if isinstance(default, str) and not isinstance(value, str):
                return f"builtin {self.name!r} param {key!r} must be a string (got {value!r})"
        reason = self.param_rule({**self.params, **params}) if self.param_rule else None
        return None if reason is None else f"builtin {self.name!r} {reason}"

    def check_sizes(
        self, d_in: int, d_out: int, params: Mapping[str, Any] | None = None
    ) -> str | None:
        """None if the family accepts (d_in, d_out), else a one-line reason.

        ``params`` matter for families whose size rule depends on them (``mlp_loss``'s
        ``features``); defaults are used for the ones not given.
        """
        given = dict(params or {})
        if not (_is_integer(d_in) and _is_integer(d_out)):
            return f"builtin {self.name!r} needs integer sizes (got {d_in!r} and {d_out!r})"
        if d_in < 1 or d_out < 1:
            return f"builtin {self.name!r} needs d_in >= 1 and d_out >= 1 (got {d_in} and {d_out})"
        bad_params = self.check_params(given)
        if bad_params is not None:
            return bad_params
        reason = self.size_rule(d_in, d_out, {**self.params, **given}) if self.size_rule else None
        return None if reason is None else f"builtin {self.name!r} {reason}"


def _is_integer(value: Any) -> bool:
    """int or numpy integer, but not bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


_REGISTRY: dict[str, Builtin] = {}


def _builtin(
    name: str,
    summary: str,
    shape: str,
    params: Mapping[str, Any] | None = None,
    sizes: SizeRule | None = None,
    validate: ParamRule | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``make(d_in, d_out, **all_params)`` behind a validating factory."""

    def register(make: Callable[..., Any]) -> Callable[..., Any]:
        def factory(d_in: int, d_out: int, **given: Any) -> Any:
            spec = _REGISTRY[name]
            reason = spec.check_sizes(d_in, d_out, given)
            if reason is not None:
                raise ValueError(reason)
            return make(d_in, d_out, **{**spec.params, **given})

        factory.__name__ = factory.__qualname__ = name
        factory.__doc__ = f"{summary}\n\nfactory(d_in, d_out, **params); params: {params or {}}"
        _REGISTRY[name] = Builtin(
            name, summary, shape, factory, MappingProxyType(dict(params or {})), sizes, validate
        )
        return make

    return register


def _one_input(d_in: int, d_out: int, _: Mapping[str, Any]) -> str | None:
    return None if d_in == 1 else f"needs d_in = 1 (got {d_in})"


def _one_output(d_in: int, d_out: int, _: Mapping[str, Any]) -> str | None:
    return None if d_out == 1 else f"needs d_out = 1 (got {d_out})"


def _square(d_in: int, d_out: int, _: Mapping[str, Any]) -> str | None:
    return None if d_in == d_out else f"needs d_in = d_out (got {d_in} and {d_out})"


def _at_least(**minimums: int) -> ParamRule:
    def rule(params: Mapping[str, Any]) -> str | None:
        for key, low in minimums.items():
            if params[key] < low:
                return f"param {key!r} must be >= {low} (got {params[key]})"
        return None

    return rule


@_builtin(
    "power",
    "x -> [x^0, x^1, ..., x^(d_out-1)] at x0 = 0.999; d_in = 1",
    "wide",
    sizes=_one_input,
)
def _power(d_in: int, d_out: int) -> Any:
    import jax.numpy as jnp

    # Float exponents: exact in float32 up to 2^24, and one vectorised pow instead of d_out
    # integer powers. At 0.999 the largest term (0.999^1e5 ~ e^-100) underflows to a tiny
    # or zero float32 instead of overflowing, so values and derivatives stay finite.
    exponents = np.arange(d_out, dtype=np.float64)

    def fn(x: Any) -> Any:
        return x[0] ** jnp.asarray(exponents, dtype=x.dtype)

    return fn, np.array([0.999])


@_builtin(
    "mean_squares",
    "x -> mean(x_i^2), a scalar; d_out = 1",
    "tall",
    sizes=_one_output,
)
def _mean_squares(d_in: int, d_out: int) -> Any:
    import jax.numpy as jnp

    def fn(x: Any) -> Any:
        return jnp.mean(x**2)

    return fn


def _check_activation(params: Mapping[str, Any]) -> str | None:
    if params["activation"] not in ("none", "tanh"):
        return f"param 'activation' must be 'none' or 'tanh' (got {params['activation']!r})"
    return _at_least(seed=0)(params)


@_builtin(
    "linear",
    "x -> A x (activation=tanh: tanh(A x)), A ~ N(0, 1/d_in) of shape (d_out, d_in); any sizes",
    "any",
    params={"activation": "none", "seed": 0},
    validate=_check_activation,
)
def _linear(d_in: int, d_out: int, *, activation: str, seed: int) -> Any:
    import jax.numpy as jnp

    a = np.random.default_rng(seed).normal(0.0, 1.0 / np.sqrt(d_in), size=(d_out, d_in))

    # Without activation the Jacobian is A whatever x is, so XLA may drop x entirely; tanh makes
    # it depend on x (the square case verdicts discuss).
    def fn(x: Any) -> Any:
        y = jnp.asarray(a, dtype=x.dtype) @ x
        return jnp.tanh(y) if activation == "tanh" else y

    return fn


@_builtin(
    "elementwise",
    "x -> sin(x) * exp(-x^2 / 2) per element, a diagonal Jacobian; d_in = d_out",
    "square",
    sizes=_square,
)
def _elementwise(d_in: int, d_out: int) -> Any:
    import jax.numpy as jnp

    def fn(x: Any) -> Any:
        return jnp.sin(x) * jnp.exp(-(x**2) / 2)

    return fn


@_builtin(
    "softmax",
    "x -> exp(x) / sum(exp(x)): O(n) work, a dense Jacobian; d_in = d_out",
    "square",
    sizes=_square,
)
def _softmax(d_in: int, d_out: int) -> Any:
    import jax

    def fn(x: Any) -> Any:
        return jax.nn.softmax(x)

    return fn


def _mlp_sizes(d_in: int, d_out: int, params: Mapping[str, Any]) -> str | None:
    need = params["features"] + 3
    if d_in >= need:
        return None
    return (
        f"needs d_in >= features + 3 = {need} (got {d_in}): "
        "one hidden unit takes features + 2 parameters, plus the output bias"
    )


@_builtin(
    "mlp_loss",
    "theta -> per-example squared errors of a one-hidden-layer tanh MLP on d_out fixed examples "
    "(scalar at d_out = 1); d_in = #parameters >= features + 3",
    "tall",
    params={"features": 4, "seed": 0},
    sizes=_mlp_sizes,
    validate=_at_least(features=1, seed=0),
)
def _mlp_loss(d_in: int, d_out: int, *, features: int, seed: int) -> Any:
    import jax.numpy as jnp

    k = features
    # Layout of theta: W1 (h, k), b1 (h,), w2 (h,), b2 (), then `rest` leftover parameters.
    hidden = (d_in - 1) // (k + 2)
    used = hidden * (k + 2) + 1
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(d_out, k))
    targets = np.tanh(data @ rng.normal(size=k)) + 0.1 * rng.normal(size=d_out)

    def fn(theta: Any) -> Any:
        x = jnp.asarray(data, dtype=theta.dtype)
        y = jnp.asarray(targets, dtype=theta.dtype)
        w1 = theta[: hidden * k].reshape(hidden, k)
        b1 = theta[hidden * k : hidden * (k + 1)]
        w2 = theta[hidden * (k + 1) : hidden * (k + 2)]
        b2 = theta[used - 1]
        pred = jnp.tanh(x @ w1.T + b1[None, :]) @ w2 + b2
        # The leftover parameters enter as an L2 penalty on every example, so each input
        # influences each output and no Jacobian column is structurally zero.
        losses = 0.5 * (pred - y) ** 2 + 1e-3 * jnp.sum(theta[used:] ** 2)
        return jnp.mean(losses) if d_out == 1 else losses

    return fn


@_builtin(
    "scan",
    "x -> C h_T with h_0 = x, h <- h + 0.1 tanh(W h) for `steps` steps (lax.scan), "
    "W (d_in, d_in), C (d_out, d_in); any sizes",
    "any",
    params={"steps": 16, "seed": 0},
    validate=_at_least(steps=1, seed=0),
)
def _scan(d_in: int, d_out: int, *, steps: int, seed: int) -> Any:
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(d_in)
    w = rng.normal(0.0, scale, size=(d_in, d_in))
    c = rng.normal(0.0, scale, size=(d_out, d_in))

    def fn(x: Any) -> Any:
        w_ = jnp.asarray(w, dtype=x.dtype)

        def step(h: Any, _: Any) -> tuple[Any, None]:
            return h + 0.1 * jnp.tanh(w_ @ h), None

        h_t, _ = jax.lax.scan(step, x, None, length=steps)
        return jnp.asarray(c, dtype=x.dtype) @ h_t

    return fn


@_builtin(
    "broyden",
    "Broyden tridiagonal residual: r_i = (3 - 2 x_i) x_i - x_(i-1) - 2 x_(i+1) + 1 "
    "(x_0 = x_(n+1) = 0), a tridiagonal Jacobian (3n - 2 non-zeros); d_in = d_out",
    "square",
    sizes=_square,
)
def _broyden(d_in: int, d_out: int) -> Any:
    import jax.numpy as jnp

    # The classic sparse test problem (Moré, Garbow & Hillstrom 1981, problem 30): dense modes
    # pay for n JVPs or VJPs, a colouring needs 3.
    def fn(x: Any) -> Any:
        padded = jnp.pad(x, 1)
        return (3 - 2 * x) * x - padded[:-2] - 2 * padded[2:] + 1

    return fn


def _even(d_in: int, d_out: int, params: Mapping[str, Any]) -> str | None:
    if d_out != 1:
        return f"needs d_out = 1 (got {d_out})"
    return None if d_in % 2 == 0 else f"needs an even d_in: x is split in pairs (got {d_in})"


@_builtin(
    "rosenbrock",
    "extended Rosenbrock, a scalar: sum over pairs of 100 (x_2i - x_(2i-1)^2)^2 + "
    "(1 - x_(2i-1))^2, a block-diagonal Hessian (2 x 2 blocks); d_in even, d_out = 1",
    "tall",
    sizes=_even,
)
def _rosenbrock(d_in: int, d_out: int) -> Any:
    import jax.numpy as jnp

    # Moré, Garbow & Hillstrom problem 21: the n/2 pairs are independent, so the Hessian has
    # 2n non-zeros and a star colouring needs 2 colours whatever n is.
    def fn(x: Any) -> Any:
        odd, even = x[0::2], x[1::2]
        return jnp.sum(100 * (even - odd**2) ** 2 + (1 - odd) ** 2)

    return fn


@_builtin(
    "mlp_u",
    "u(x) = w3 . tanh(W2 tanh(W1 x + b1) + b2), a scalar field on R^d (two tanh layers of "
    "`width` units, weights ~ N(0, 1/fan_in)), the kind whose Laplacian a PINN needs at a "
    "batch of points; d_out = 1",
    "tall",
    params={"width": 32, "seed": 0},
    sizes=_one_output,
    validate=_at_least(width=1, seed=0),
)
def _mlp_u(d_in: int, d_out: int, *, width: int, seed: int) -> Any:
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, 1.0 / np.sqrt(d_in), size=(width, d_in))
    b1 = rng.normal(0.0, 0.1, size=width)
    w2 = rng.normal(0.0, 1.0 / np.sqrt(width), size=(width, width))
    b2 = rng.normal(0.0, 0.1, size=width)
    w3 = rng.normal(0.0, 1.0 / np.sqrt(width), size=width)

    def fn(x: Any) -> Any:
        def c(a: Any) -> Any:
            return jnp.asarray(a, dtype=x.dtype)

        h = jnp.tanh(c(w1) @ x + c(b1))
        h = jnp.tanh(c(w2) @ h + c(b2))
        return c(w3) @ h

    return fn


BUILTINS: Mapping[str, Builtin] = MappingProxyType(_REGISTRY)


def get_builtin(name: str) -> Builtin:
    """The builtin called ``name``; KeyError listing the valid names otherwise."""
    try:
        return BUILTINS[name]
    except KeyError:
        valid = ", ".join(BUILTINS)
        raise KeyError(f"unknown builtin {name!r} (valid: {valid})") from None
