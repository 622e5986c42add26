"""Sphinx configuration for soptim (numpydoc docstrings; built with -W in CI)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import soptim  # noqa: E402

project = "soptim"
author = "The soptim developers"
copyright = "2026, The soptim developers"
release = soptim.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
]
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_typehints = "none"
intersphinx_mapping = {}
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
