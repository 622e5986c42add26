"""Optional peers for the benchmarks: each is None when not installed, and the
benchmarks that need it raise ``NotImplementedError`` in ``setup`` (asv's way
of saying "skip")."""

import importlib


def optional(name):
    """Import a peer package or return None."""
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install
        return None


def require(module, name):
    """In an asv ``setup``: skip the benchmark when a peer is missing."""
    if module is None:
        raise NotImplementedError(f"peer {name} is not installed")
    return module
