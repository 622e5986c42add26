"""``.. soptim-method:: gns`` -- a soptim method of ``minimize`` under its public name.

Why: the methods are implemented by private functions (``_minimize_gns``,
``_minimize_sketched_alm``) whose keyword arguments are the ``options`` of
``soptim.minimize(..., method=...)``. ``autofunction`` would show the private
name and signature, which nobody calls. This directive renders the same
docstring (through numpydoc, as autodoc would) under the signature a user
writes, ``soptim.minimize(fun, x0, ..., method='gns', options={...})``, with
the docstring's parameters split into *Parameters* (``minimize``'s own
arguments, as this method reads them) and *Options* (the keys of ``options``:
the text ``soptim.show_options('minimize', 'gns')`` prints).

The signature's ``options`` dict lists every option with its default, read
from the method function, so the page cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from numpydoc.docscrape import NumpyDocString
from numpydoc.numpydoc import mangle_docstrings
from sphinx.application import Sphinx


def _method_function(method: str):
    from soptim.optimize._minimize import SOPTIM_METHODS

    module, name = SOPTIM_METHODS[method]
    return getattr(importlib.import_module(module), name)


def _not_options() -> set[str]:
    from soptim.optimize._minimize import _NOT_OPTIONS

    return set(_NOT_OPTIONS)


def _names(param) -> set[str]:
    return {n.strip().lstrip("*") for n in param.name.split(",")}


def _signature(method: str, func, not_options: set[str]) -> str:
    """``minimize(...)`` as a user calls it, with the options and their defaults."""
    sig = inspect.signature(func)
    opts = []
    for name, p in sig.parameters.items():
        if name in not_options or p.kind is p.VAR_KEYWORD:
            continue
        opts.append(f"{name!r}: {p.default!r}")
    own = ["fun", "x0", "args=()", f"method={method!r}", "jac=None", "hess=None",
           "hessp=None"]
    if "bounds" in sig.parameters:
        own += ["bounds=None", "constraints=()"]
    own += ["tol=None", "callback=None", "options={" + ", ".join(opts) + "}"]
    return "minimize(" + ", ".join(own) + ")"


class SoptimMethod(Directive):
    """The documentation of one soptim method of ``minimize`` (see the module docstring)."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        method = self.arguments[0]
        func = _method_function(method)
        not_options = _not_options()
        doc = NumpyDocString(inspect.getdoc(func) or "")
        params = doc["Parameters"]
        doc["Parameters"] = [p for p in params if _names(p) <= not_options]
        doc["Other Parameters"] = [p for p in params if not _names(p) <= not_options
                                   and "unknown_options" not in _names(p)]
        lines = str(doc).splitlines()
        app = self.state.document.settings.env.app
        mangle_docstrings(app, "function", f"soptim.minimize.{method}", func, None, lines)
        # numpydoc's field name for the second list; here it is the ``options`` dict
        lines = [ln.replace(":Other Parameters:", ":Options:") for ln in lines]
        rst = [f".. py:function:: {_signature(method, func, not_options)}",
               "   :module: soptim", "   :no-index:", ""]
        rst += ["   " + ln if ln.strip() else "" for ln in lines]
        container = nodes.section()
        container.document = self.state.document
        source = f"<soptim-method {method}>"
        self.state.nested_parse(StringList(rst, source=source), self.content_offset, container)
        return container.children


def setup(app: Sphinx) -> dict:
    app.add_directive("soptim-method", SoptimMethod)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
