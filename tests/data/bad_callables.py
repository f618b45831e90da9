"""Tiny user factories that misbehave in every way a case can, for tests/test_case_errors.py.

Each is ``factory(d_in, d_out) -> fn`` (or ``(fn, x0)``) as a run file's `callable` names it.
"""

import jax
import jax.numpy as jnp
import numpy as np


def ok(d_in, d_out):
    return lambda x: jnp.tile(x, d_out // d_in)


def raises(d_in, d_out):
    raise RuntimeError("cannot build this model")


def takes_no_sizes():
    return lambda x: x


def not_a_function(d_in, d_out):
    return 42


def bad_x0(d_in, d_out):
    return (lambda x: x), np.zeros(d_in + 1)


def fn_raises(d_in, d_out):
    def fn(x):
        raise ValueError("the model diverged")

    return fn


def wrong_shape(d_in, d_out):
    return lambda x: jnp.zeros(d_out + 1, x.dtype) + x[0]


def not_an_array(d_in, d_out):
    return lambda x: [x[0], x[1]]


def returns_none(d_in, d_out):
    return lambda x: None


def integer_output(d_in, d_out):
    return lambda x: jnp.floor(x).astype(jnp.int32)


def complex_output(d_in, d_out):
    return lambda x: x * (1 + 1j)


def nonfinite(d_in, d_out):
    # d/dx sqrt(|x|) at 0 is not finite
    return (lambda x: jnp.sqrt(jnp.abs(x))), np.zeros(d_in)


@jax.custom_jvp
def _sin_with_wrong_rule(x):
    return jnp.sin(x)


@_sin_with_wrong_rule.defjvp
def _wrong_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # affine in t: forward mode sees the "+ 1", reverse mode (which transposes the linear
    # part) does not, so jacfwd and jacrev disagree
    return jnp.sin(x), jnp.cos(x) * t + 1.0


def mismatch(d_in, d_out):
    return _sin_with_wrong_rule


@jax.custom_vjp
def _reverse_only(x):
    return jnp.sin(x)


_reverse_only.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (jnp.cos(x) * g,))


def reverse_only(d_in, d_out):
    # custom_vjp functions cannot be differentiated in forward mode: jacfwd fails, jacrev works
    return _reverse_only


def huge_factory(d_in, d_out):
    raise AssertionError("the memory guard must refuse this case before calling its factory")


def sleeps(d_in, d_out):
    import time

    def fn(x):
        time.sleep(60)  # runs while tracing, i.e. inside lower(): only a kill can stop it
        return x

    return fn


def crashes(d_in, d_out):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)
