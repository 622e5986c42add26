"""ChebTucker input handling: clear errors naming the argument, warnings where it extrapolates."""

import math
import warnings

import numpy as np
import pytest

from soptim.approx import ChebTucker, ExtrapolationWarning, chebpts

SQUARE = [(-1.0, 1.0), (0.0, 2.0)]


@pytest.fixture(scope="module")
def ct():
    return ChebTucker.fit(lambda x, y: np.exp(x) * np.cos(y) + x * y, SQUARE, tol=1e-10)


# ----------------------------------------------------------------------------- complex input


def test_complex_points_are_rejected_naming_the_argument(ct):
    P = np.array([[0.1, 0.5], [0.2, 1.0]])
    with pytest.raises(TypeError, match="points must be real"):
        ct.evaluate(P + 1j)
    with pytest.raises(TypeError, match=r"xs\[1\] must be real"):
        ct(0.5, 1.0 + 0.5j)
    with pytest.raises(TypeError, match=r"xs\[0\] must be real"):
        ct(np.array([0.1, 0.2], dtype=complex), np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match=r"axes\[0\] must be real"):
        ct.on_grid(np.linspace(-1, 1, 3) + 0j, np.linspace(0, 2, 4))
    # the real versions work and agree
    np.testing.assert_allclose(ct(P[:, 0], P[:, 1]), ct.evaluate(P), atol=1e-15)


def test_f_returning_complex_values_is_rejected():
    with pytest.raises(TypeError, match="f returned complex values"):
        ChebTucker.fit(lambda x, y: np.exp(1j * x) * y, SQUARE)
    with pytest.raises(TypeError, match="f returned complex values"):
        ChebTucker.fit(lambda x: x + 0j, (-1.0, 1.0), degree=4)


# ----------------------------------------------------------------------------- NaN, inf, shapes


def test_on_grid_rejects_nonfinite_and_multidimensional_axes(ct):
    good = np.linspace(0, 2, 5)
    with pytest.raises(ValueError, match=r"axes\[0\] contains NaN or inf"):
        ct.on_grid(np.array([0.0, np.nan]), good)
    with pytest.raises(ValueError, match=r"axes\[1\] contains NaN or inf"):
        ct.on_grid(np.zeros(2), np.array([np.inf, 1.0]))
    with pytest.raises(ValueError, match=r"axes\[1\] must be a 1-D array.*shape \(2, 3\)"):
        ct.on_grid(np.zeros(2), np.ones((2, 3)))
    with pytest.raises(TypeError, match="2 grid axes"):
        ct.on_grid(good)
    # a scalar is a one-point axis; a list is an axis
    t = ct.on_grid(0.5, [0.0, 1.0, 2.0])
    assert t.shape == (1, 3)
    np.testing.assert_allclose(t.full()[0], ct(0.5, np.array([0.0, 1.0, 2.0])), atol=1e-14)


def test_nonfinite_coordinates_are_rejected_naming_them(ct):
    with pytest.raises(ValueError, match="points contains NaN or inf"):
        ct.evaluate(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"xs\[0\] contains NaN or inf"):
        ct(np.inf, 1.0)


@pytest.mark.parametrize("expr", ["ct * np.nan", "np.nan * ct", "ct + np.inf", "np.inf + ct",
                                  "ct - np.nan", "-np.inf - ct", "ct / np.inf",
                                  "ct * np.float64(np.nan)"])
def test_arithmetic_with_nonfinite_scalars_names_the_operand(ct, expr):
    with pytest.raises(ValueError, match="scalar operand c must be finite"):
        eval(expr)


def test_arithmetic_overflow_is_a_clear_error(ct):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy overflow warning on the way
        with pytest.raises(ValueError, match=r"ChebTucker \*: the result overflows float64"):
            ct * 1e308
        with pytest.raises(ValueError, match=r"ChebTucker /: the result overflows float64"):
            ct / 1e-308
        # finite on its own, the sum of two is not
        big = ct * (0.9 * np.finfo(float).max / max(float(np.abs(ct.core).max()), ct.vscale))
        with pytest.raises(ValueError, match=r"ChebTucker \+: the result overflows float64"):
            big + big
        with pytest.raises(ValueError, match=r"ChebTucker -: the result overflows float64"):
            big - (-big)
    with pytest.raises(ZeroDivisionError, match="nonzero"):
        ct / 0
    with pytest.raises(TypeError, match="scalar operand"):
        ct * True
    # large but representable scalings are fine
    scaled = ct * 1e200
    P = np.array([[0.3, 1.2]])
    assert scaled.evaluate(P)[0] == pytest.approx(1e200 * ct.evaluate(P)[0], rel=1e-12)


# ----------------------------------------------------------------------------- extrapolation


def test_evaluation_outside_the_box_warns_with_points_and_domain(ct):
    inside = np.array([[-1.0, 0.0], [1.0, 2.0], [0.3, 1.1]])  # corners included
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ct.evaluate(inside)
        ct(1.0, 2.0)
        ct.on_grid(chebpts(5, SQUARE[0]), np.linspace(0, 2, 7))
    P = np.vstack([inside, [[1.5, 0.5], [0.0, -0.25]]])
    with pytest.warns(ExtrapolationWarning, match=r"2 of 5 points lie outside the domain "
                                                  r"\[\(-1\.0, 1\.0\), \(0\.0, 2\.0\)\] "
                                                  r"\(first: point 3 at x = \(1\.5, 0\.5\)\)"):
        vals = ct.evaluate(P)
    assert np.all(np.isfinite(vals))  # still the polynomial's values
    with pytest.warns(ExtrapolationWarning, match="1 of 1 points"):
        ct(0.0, 2.5)
    with pytest.warns(ExtrapolationWarning, match=r"outside domain\[1\] = \(0\.0, 2\.0\) "
                                                  r"\(first: axes\[1\]\[2\] = 3\.0\)"):
        ct.on_grid(np.zeros(2), np.array([0.0, 1.0, 3.0]))
    assert issubclass(ExtrapolationWarning, RuntimeWarning)


# ----------------------------------------------------------------------------- f not vectorized


def test_f_that_is_not_vectorized_is_explained():
    msg = "f must accept arrays of points and return an array of values"
    with pytest.raises(TypeError, match=msg) as info:
        ChebTucker.fit(lambda x: math.sin(x), (-1.0, 1.0))
    assert "math.sin" in str(info.value) and "(17,)" in str(info.value)
    with pytest.raises(TypeError, match=msg):
        ChebTucker.fit(lambda x, y: 1.0, SQUARE)  # a Python scalar for arrays
    with pytest.raises(ValueError, match=msg):
        ChebTucker.fit(lambda x, y: np.float64(2.0), SQUARE)  # shape ()
    with pytest.raises(ValueError, match=msg):
        ChebTucker.fit(lambda x: x if x > 0 else -x, (-1.0, 1.0))  # `if` on an array
    with pytest.raises(ValueError, match=r"f returned shape \(17,\)"):
        ChebTucker.fit(lambda x, y: np.ravel(x + y)[:17], SQUARE)
    # a constant written elementwise, and f of fewer variables, are fine
    const = ChebTucker.fit(lambda x, y: 3.0 + 0 * x * y, SQUARE)
    assert const(0.2, 0.3) == pytest.approx(3.0, abs=1e-14)
    only_x = ChebTucker.fit(lambda x, y: np.exp(x), SQUARE, tol=1e-12)
    assert only_x(0.5, 1.7) == pytest.approx(np.exp(0.5), abs=1e-11)


# ----------------------------------------------------------------------------- other arguments


def test_from_values_needs_samples_on_every_axis():
    with pytest.raises(ValueError, match=r"values must hold at least one sample per axis.*"
                                         r"got shape \(0,\)"):
        ChebTucker.from_values(np.zeros(0), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"values must hold .* got shape \(3, 0\)"):
        ChebTucker.from_values(np.zeros((3, 0)), SQUARE)
    one = ChebTucker.from_values(np.array([2.5]), (0.0, 1.0))  # a constant
    assert one.degrees == (0,) and one(0.7) == pytest.approx(2.5)


def test_options_are_checked_by_name():
    f = lambda x, y: x + y  # noqa: E731
    with pytest.raises(TypeError, match="tol must be a real number"):
        ChebTucker.fit(f, SQUARE, tol="1e-6")
    with pytest.raises(ValueError, match="method must be one of 'hosvd', 'hooi'"):
        ChebTucker.fit(f, SQUARE, method="tt")
    with pytest.raises(ValueError, match="kind must be one of 1, 2"):
        ChebTucker.from_values(np.ones((3, 3)), SQUARE, kind=3)
    with pytest.raises(ValueError, match="kind must be one of 1, 2"):
        chebpts(3, kind=True)
    with pytest.raises(TypeError, match=r"degree\[1\] must be an integer"):
        ChebTucker.fit(f, SQUARE, degree=(3, 2.5))
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'cupy'"):
        ChebTucker.fit(f, SQUARE, backend="torch")
    with pytest.raises(TypeError, match="m must be an integer"):
        chebpts(2.0)


def test_constructor_and_from_cp_reject_complex_and_nonfinite_parts():
    U = [np.eye(3, 1), np.eye(4, 1)]
    with pytest.raises(ValueError, match="core contains NaN or inf"):
        ChebTucker(np.full((1, 1), np.nan), U, SQUARE)
    with pytest.raises(TypeError, match="core must be real"):
        ChebTucker(np.ones((1, 1)) + 1j, U, SQUARE)
    with pytest.raises(ValueError, match=r"factors\[1\] contains NaN or inf"):
        ChebTucker(np.ones((1, 1)), [U[0], np.full((4, 1), np.inf)], SQUARE)
    assert ChebTucker(np.full((1, 1), 2.0), U, SQUARE)(0.0, 1.0) == pytest.approx(2.0)
    with pytest.raises(TypeError, match=r"factors\[0\] returned complex values"):
        ChebTucker.from_cp(np.ones(1), [lambda x: np.exp(1j * x)[:, None]] * 2, domain=SQUARE)
