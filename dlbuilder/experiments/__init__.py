"""Experiments: sweeps over one or two settings, expanded into runs, trained (vectorised where they can
be), and summarised as the tables and curves the lectures show. No streamlit here."""

from dlbuilder.experiments.axes import AXES, Axis, AxisError
from dlbuilder.experiments.lectures import LECTURE_SWEEPS, LectureSweep, lecture_sweep
from dlbuilder.experiments.plan import BUDGET_SECONDS, BudgetError, SweepPlan, plan_sweep
from dlbuilder.experiments.results import RunResult, results_table
from dlbuilder.experiments.spec import MAX_RUNS, SweepAxis, SweepError, SweepSpec, expand
from dlbuilder.experiments.sweep import SweepOutcome, run_sweep

__all__ = ["AXES", "BUDGET_SECONDS", "LECTURE_SWEEPS", "MAX_RUNS", "Axis", "AxisError", "BudgetError",
           "LectureSweep", "RunResult", "SweepAxis", "SweepError", "SweepOutcome", "SweepPlan", "SweepSpec",
           "expand", "lecture_sweep", "plan_sweep", "results_table", "run_sweep"]
