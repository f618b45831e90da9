"""Factories for the bad-config corpus: resolvable, so only the config's own fault shows."""

NOT_A_FUNCTION = 42


def ok(d_in, d_out):
    return lambda x: x


def scaled(d_in, d_out, scale=1.0):
    return lambda x: scale * x


def net(width, n_points):
    """A factory of named sizes returning (fn, args)."""
    import numpy as np

    def f(p, x):
        return (p["w"] * x)[:, 0]

    return f, ({"w": np.ones(width)}, np.ones((n_points, 1)))
