"""Live JupyterLab views: the :class:`LiveDashboard` of a running distillation (a ``distill.run``
callback with a Stop button) and the :class:`SelectionExplorer` of a selection (embedding, sensitivity
and the images you lasso, linked). Figures come from :mod:`dd_explore.viz`, wrapped in plotly
``FigureWidget``; see docs/views.md for how to read them.

>>> from dd_explore import data
>>> from dd_explore.widgets import LiveDashboard
>>> dash = LiveDashboard(data.load("digits"))
>>> handle = dash.start_run(method="dm", ipc=1, steps=20, width=16)       # doctest: +SKIP
>>> handle.join().steps_done                                              # doctest: +SKIP
20
"""

from dd_explore.widgets.background import BackgroundRun, run_in_background
from dd_explore.widgets.dashboard import LiveDashboard
from dd_explore.widgets.explorer import SelectionExplorer

__all__ = ["BackgroundRun", "LiveDashboard", "SelectionExplorer", "run_in_background"]
