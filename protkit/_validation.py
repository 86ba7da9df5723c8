"""Argument checks shared by protkit's layers and model builders (Keras-style messages)."""

import numbers

def is_int(value):
    """True for ints (NumPy's included) but not bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """True for real numbers (NumPy's included) but not bools."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_input_shape(input_shape, static=True):
    """Returns `input_shape` as a tuple (height, width, channels) of positive ints, or raises.

    With `static=False`, height and width may be None (any image size).
    """
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    ok = shape is not None and len(shape) == 3 and is_int(shape[-1]) and shape[-1] > 0
    if ok:
        ok = all((size is None and not static) or (is_int(size) and size > 0) for size in shape[:2])
    if not ok:
        sizes = "positive ints" if static else "positive ints or None"
        raise ValueError(
            f"input_shape must be (height, width, channels) with {sizes} for height and width "
            f"and a positive int channel count. Received: input_shape={input_shape!r}"
        )
    return tuple(None if size is None else int(size) for size in shape)


def check_positive_int(value, name):
    if not is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return int(value)


def check_rate(value, name):
    """A dropout rate in [0, 1)."""
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_non_negative(value, name):
    if not is_number(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0. Received: {name}={value!r}")
    return float(value)


def check_filters(filters, name="filters"):
    """A non-empty tuple of positive ints."""
    values = tuple(filters) if isinstance(filters, (tuple, list)) else None
    if not values or not all(is_int(v) and v > 0 for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints. Received: {name}={filters!r}")
    return tuple(int(v) for v in values)


def positive_int_pair(value, name):
    """Returns `value` as a tuple of two positive ints, or raises."""
    pair = (value, value) if is_int(value) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(is_int(v) and v > 0 for v in pair)
    ):
        raise ValueError(
            f"Argument `{name}` must be a positive int or a tuple of two "
            f"positive ints. Received: {name}={value}"
        )
    return tuple(int(v) for v in pair)


# Layer arguments, in the words of Keras' own layers: "Argument `name` must be ... Received: name=value".
def _argument_error(name, value, expected):
    return ValueError(f"Argument `{name}` must be {expected}. Received: {name}={value}")


def positive_int_argument(value, name, expected="a positive int"):
    """Returns `value` as an int, or raises if it is not a positive int (bools are not ints)."""
    if not is_int(value) or value <= 0:
        raise _argument_error(name, value, expected)
    return int(value)


def positive_number_argument(value, name):
    """Returns `value` as a float, or raises if it is not a number > 0."""
    if not is_number(value) or value <= 0:
        raise _argument_error(name, value, "a positive number")
    return float(value)


def non_negative_argument(value, name):
    """Returns `value` as a float, or raises if it is not a number >= 0 (a weight decay)."""
    if not is_number(value) or value < 0:
        raise _argument_error(name, value, "a number >= 0")
    return float(value)


def rate_argument(value, name):
    """Returns `value` as a float, or raises if it is not a number in [0, 1) (a dropout rate)."""
    if not is_number(value) or not 0 <= value < 1:
        raise _argument_error(name, value, "a number in [0, 1)")
    return float(value)


def bool_argument(value, name):
    """Returns `value`, or raises if it is not a bool."""
    if not isinstance(value, bool):
        raise _argument_error(name, value, "a bool")
    return value


def choice_argument(value, name, choices):
    """Returns `value`, or raises if it is not one of `choices`."""
    if value not in choices:
        raise _argument_error(name, value, f"one of {choices}")
    return value


def conv_block_arguments(filters, num_convs, weight_decay):
    """The arguments every conv block shares, checked: `(filters, num_convs, weight_decay)`.

    `filters` and `num_convs` come back as ints, `weight_decay` as a float.
    """
    return (
        positive_int_argument(filters, "filters"),
        positive_int_argument(
            num_convs, "num_convs", "a positive int (2 for a small block, 3 for a large one)"
        ),
        non_negative_argument(weight_decay, "weight_decay"),
    )
