"""Front evaluation: sweep a model over a grid of preferences, score it, and measure the front it spans.

Needs the ``[eval]`` extra (moocore, scipy, matplotlib, tqdm). Depends on the shared maths (``sampling``) only,
never on the trainers or the demo.
"""

from .front import FrontResult, RewardFn, format_table
from .generation import evaluate_front, evaluate_policies
from .plotting import plot_front

__all__ = ["FrontResult", "RewardFn", "evaluate_front", "evaluate_policies", "format_table", "plot_front"]
