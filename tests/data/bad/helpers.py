"""Factories for the bad-config corpus: resolvable, so only the config's own fault shows."""

NOT_A_FUNCTION = 42


def ok(d_in, d_out):
    return lambda x: x


def scaled(d_in, d_out, scale=1.0):
    return lambda x: scale * x
