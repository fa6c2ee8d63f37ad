"""Front evaluation: sweep a model over a grid of preferences, score it, and measure the front it spans.

Needs the ``[eval]`` extra (moocore, scipy, matplotlib, tqdm). Depends on the shared maths (``sampling``) only,
never on the trainers or the demo.
"""

from .._extras import raise_if_extra_missing

try:
    from .front import FrontResult, RewardFn, format_table
    from .generation import evaluate_front, evaluate_policies
    from .plotting import plot_front
except ImportError as error:
    raise_if_extra_missing("eval", "Front evaluation (peft_panacea.evaluation)", error)
    raise

__all__ = ["FrontResult", "RewardFn", "evaluate_front", "evaluate_policies", "format_table", "plot_front"]
