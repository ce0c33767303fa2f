"""Offline HTML report of a distillation run: one self-contained file with every view (plotly.js inlined).

>>> from dd_explore.report import write_report
>>> write_report("runs/demo")                     # doctest: +SKIP  -> runs/demo/report.html
"""

from dd_explore.report.build import write_report

__all__ = ["write_report"]
