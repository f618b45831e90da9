"""What cannot be differentiated is one ValueError naming the argument and the leaf path; a bug
in the user's own function keeps its type and traceback."""

from __future__ import annotations

import copy
import pickle
import re
import traceback

import jax.numpy as jnp
import numpy as np
import pytest
import ray.cloudpickle as cloudpickle

import adbench

PARAMS = {"layers": [{"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}, {"w": jnp.ones((2, 1))}]}


def loss(params, x):
    h = jnp.tanh(x @ params["layers"][0]["w"] + params["layers"][0]["b"])
    return jnp.sum(h @ params["layers"][1]["w"])


@pytest.mark.parametrize(
    ("args", "argnums", "words"),
    [
        (
            ({"layers": [{"w": jnp.ones((2, 2)), "b": jnp.zeros(2, jnp.int32)}]}, jnp.ones(2)),
            0,
            "argument 0['layers'][0]['b'] has dtype int32",
        ),
        ((PARAMS, jnp.ones(2)), 2, "argnums=2 names argument 2, but f was called with 2"),
        ((PARAMS, jnp.ones(2)), (0, -3), "names argument -3"),
        ((PARAMS, jnp.ones(2)), (0, -2), "names one argument twice"),
        (({"w": "string"}, jnp.ones(2)), 0, "argument 0['w'] is a str, not an array"),
        (({}, jnp.ones(2)), 0, "hold no array to differentiate"),
        ((PARAMS, jnp.arange(2)), 1, "argument 1 has dtype int32"),
    ],
)
def test_what_cannot_be_differentiated_is_one_value_error_naming_the_leaf(args, argnums, words):
    jac = adbench.jacobian(loss, argnums=argnums)
    with pytest.raises(ValueError, match=re.escape(words)) as info:
        jac(*args)
    assert "\n" not in str(info.value) and str(info.value).startswith("adbench.jacobian: ")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: adbench.jacobian(loss, argnums="0"), "argnums must be an int or a tuple"),
        (lambda: adbench.jacobian(loss, argnums=(0, 0)), "repeats an argument"),
        (lambda: adbench.jacobian(loss, argnums=()), "argnums must be an int or a tuple"),
        (lambda: adbench.jacobian(loss, has_aux=1), "has_aux must be True or False"),
        (lambda: adbench.jacobian(loss, batched="yes"), "batched must be True or False"),
        (lambda: adbench.jacobian(loss, chunk_size=0), "chunk_size must be an integer >= 1"),
    ],
)
def test_bad_options_are_value_errors_at_construction(make, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        make()


def test_has_aux_without_a_pair_and_a_vector_hessian():
    with pytest.raises(ValueError, match="has_aux=True needs f to return a pair"):
        adbench.jacobian(jnp.sin, has_aux=True)(jnp.ones(2))
    with pytest.raises(ValueError, match="needs a scalar f"):
        adbench.laplacian(lambda p: p["layers"][0]["w"], argnums=0)(PARAMS)


def test_a_bug_in_the_users_function_keeps_its_type_and_traceback():
    def buggy(params, x):
        return params["missing"] @ x  # KeyError: the user's own bug

    jac = adbench.jacobian(buggy)
    with pytest.raises(KeyError) as info:
        jac(PARAMS, jnp.ones(2))
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "buggy" in frames  # the user's frame is in the traceback
    assert any("adbench.jacobian" in note for note in getattr(info.value, "__notes__", []))

    def shape_bug(x):
        return x @ jnp.ones((5, 5))  # TypeError from JAX on the user's line

    with pytest.raises(TypeError, match="dot_general requires contracting"):
        adbench.jacobian(shape_bug)(jnp.ones(3))


# --- pickling, deep copies, cloudpickle: like jax.jacfwd(f) ------------------------------------


def _power(x):
    return x[0] ** jnp.arange(20.0)


@pytest.mark.parametrize("dump", ["pickle", "deepcopy", "cloudpickle"])
def test_pickled_deep_copied_and_cloudpickled_after_use(dump):
    jac = adbench.jacobian(_power, strategies=["jacfwd", "jacrev"])
    x = jnp.array([0.9])
    first = jac(x)  # decided and compiled: a lock, a cache, executables
    if dump == "pickle":
        back = pickle.loads(pickle.dumps(jac))
    elif dump == "deepcopy":
        back = copy.deepcopy(jac)
    else:
        back = cloudpickle.loads(cloudpickle.dumps(adbench.jacobian(lambda v: _power(v) * 2)))
        np.testing.assert_allclose(back(x), 2 * first, rtol=1e-6)
        return
    assert back._cache == {} and back is not jac
    np.testing.assert_allclose(back(x), first, rtol=1e-6)
    assert back.choose(x) == jac.choose(x)
    assert len(back._cache) == 1 and len(jac._cache) == 1  # rebuilt lazily, apart
