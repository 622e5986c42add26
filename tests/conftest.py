"""Shared test configuration: the one ``gpu`` marker and the ``cp`` fixture.

A test marked ``@pytest.mark.gpu`` is skipped unless CuPy imports and sees a
CUDA device; such tests take the ``cp`` fixture (the ``cupy`` module) instead
of importing CuPy themselves.
"""

from __future__ import annotations

import pytest

from soptim.backend import cupy_available


def _gpu_skip_reason() -> str | None:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "needs CuPy (pip install 'soptim[gpu]')"
    if not cupy_available():
        return "needs a CUDA device"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None:
        reason = _gpu_skip_reason()
        if reason is not None:
            pytest.skip(reason)


@pytest.fixture
def cp():
    """The ``cupy`` module; the test is skipped without CuPy or a CUDA device."""
    reason = _gpu_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    import cupy

    return cupy
