"""Sphinx configuration for soptim (numpydoc docstrings; built with -W in CI)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))

import soptim  # noqa: E402

project = "soptim"
author = "The soptim developers"
copyright = "2026, The soptim developers"
release = soptim.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "mathml_math",  # docs/_ext: formulas as MathML at build time, no network needed
    "soptim_methods",  # docs/_ext: minimize's methods and their options under public names
]
html_math_renderer = "mathml"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_typehints = "none"
intersphinx_mapping = {}
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # code blocks and wide tables scroll instead of overflowing
html_theme_options = {"page_width": "1100px", "sidebar_width": "230px"}
nitpicky = False

# The gallery (examples/*.py) runs in every docs build, CI included: each example must
# finish in under 20 s on a 2-core machine; an example that raises fails the build.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    "within_subsection_order": "FileNameSortKey",
}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json"]
