"""dd_explore: dataset distillation and coreset selection you can watch.

Plotting and widgets live in :mod:`dd_explore.viz` and :mod:`dd_explore.widgets` and are not
imported here, so the core stays light.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
