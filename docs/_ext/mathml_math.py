"""Render ``:math:`` and ``.. math::`` as MathML when the HTML is built.

Why: the docs must show formulas without network access (CI has none, and
readers may be offline), so no MathJax from a CDN. docutils ships a LaTeX to
MathML converter; browsers render MathML natively, so the pages need no
JavaScript and no downloaded fonts. LaTeX that the converter does not know is a
build warning (an error under ``sphinx-build -W``), never raw TeX on a page.
"""

from __future__ import annotations

from docutils import nodes
from docutils.utils.math import latex2mathml
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _mathml(self, node: nodes.Element, latex: str, display: bool) -> str:
    try:
        mml = latex2mathml.tex2mathml(latex, as_block=display)
    except Exception as exc:  # the converter raises SyntaxError and others
        logger.warning("math not converted to MathML (%s): %s", exc, latex, location=node)
        return f"<code>{self.encode(latex)}</code>"
    return mml


def _visit_inline(self, node: nodes.Element) -> None:
    self.body.append(_mathml(self, node, node.astext(), display=False))
    raise nodes.SkipNode


def _visit_block(self, node: nodes.Element) -> None:
    html = _mathml(self, node, node.astext(), display=True)
    label = ""
    if node.get("number"):
        label = f'<span class="eqno">({node["number"]})</span>'
    self.body.append(f'<div class="math">{label}{html}</div>\n')
    raise nodes.SkipNode


def setup(app: Sphinx) -> dict:
    app.add_html_math_renderer("mathml", (_visit_inline, None), (_visit_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
