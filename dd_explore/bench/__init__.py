"""The benchmark: an honest ablation of sensitivity init and importance-sampled batches on top of DM,
KIP and DC/DSA (with coreset and whole-data baselines and fairness controls), and the speed and scale
section. ``dd-explore bench`` runs both; docs/bench.md explains the plans and the statistics.

>>> from dd_explore.bench import make_plan, run_ablation, run_speed
>>> plan = make_plan("quick")
>>> print(plan.describe())                                        # doctest: +SKIP
>>> result = run_ablation(plan, "runs/bench-quick")               # doctest: +SKIP
>>> rows = run_speed("runs/bench-quick", "quick")                 # doctest: +SKIP
"""

from dd_explore.bench.ablation import AblationResult, check_plan, run_ablation, validation_split
from dd_explore.bench.plan import PLANS, Cell, Plan, grid_cells, make_plan, with_cells
from dd_explore.bench.report import comparison_html, table_markdown, write_reports
from dd_explore.bench.speed import SpeedPlan, make_speed_plan, run_speed
from dd_explore.bench.stats import CellSummary, PairedTest, paired_test, summarize

__all__ = [
    "PLANS", "AblationResult", "Cell", "CellSummary", "PairedTest", "Plan", "SpeedPlan", "check_plan",
    "comparison_html", "grid_cells", "make_plan", "make_speed_plan", "paired_test", "run_ablation", "run_speed",
    "summarize", "table_markdown", "validation_split", "with_cells", "write_reports",
]
