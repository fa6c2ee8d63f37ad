"""Training options shared by the Panacea trainer configs (mixed into TRL's DPOConfig / SFTConfig)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..aggregation import AGGREGATIONS

GRANULARITIES = ("batch", "sample")
SAMPLINGS = ("uniform", "dirichlet", "vertex")
SUPPORTS = ("simplex", "labelled")


@dataclass
class PanaceaArguments:
    """How preferences are drawn during training and how per-objective losses are combined with them.

    Args:
        aggregation: ``"linear"`` (sum_i l_i L_i), ``"tchebycheff"`` (max_i l_i (L_i - z_i)) or
            ``"smooth_tchebycheff"`` (mu * logsumexp_i(l_i (L_i - z_i) / mu)).
        preference_sampling: ``"uniform"`` on the simplex, ``"dirichlet"`` with ``dirichlet_alpha``, or
            ``"vertex"``: a corner of the simplex with ``vertex_probability``, uniform otherwise (the paper).
        preference_granularity: ``"batch"``: one preference per batch, the same on every process (the paper);
            ``"sample"``: one preference per row, through the per-sample preference path.
        tchebycheff_ideal_point: Ideal point z, one value per objective (default 0: losses are >= 0).
        smooth_tchebycheff_mu: Temperature of smooth Tchebycheff.
        orth_reg_weight: Weight of ``orthogonal_regularization()`` added to the loss; ``None`` takes the adapter
            config's value.
        preference_support: ``"simplex"``: every draw on the whole simplex; ``"labelled"`` (per-sample granularity):
            each row's draw on the face of the objectives it has a label for (DPO: its non-zero labels; SFT: its
            objective, so the corner), so that with many objectives, each labelling few, every row still trains
            a trade-off it informs.
        preference_lr_ratio: Learning rate of the preference directions (the last m rows of V^T and columns of U,
            and s) over ``learning_rate``. Above 1 the preference-specific part learns faster than the shared part.
    """

    granularities: ClassVar[tuple[str, ...]] = GRANULARITIES

    aggregation: str = field(default="linear", metadata={"help": f"One of {AGGREGATIONS}."})
    preference_sampling: str = field(default="uniform", metadata={"help": f"One of {SAMPLINGS}."})
    dirichlet_alpha: float = field(default=1.0, metadata={"help": "Concentration for 'dirichlet' sampling."})
    vertex_probability: float = field(default=0.3, metadata={"help": "Probability of a corner for 'vertex'."})
    preference_granularity: str = field(default="batch", metadata={"help": "'batch' or 'sample' ('group' online)."})
    tchebycheff_ideal_point: list[float] | None = field(
        default=None, metadata={"help": "Ideal point z per objective (default zeros)."}
    )
    smooth_tchebycheff_mu: float = field(default=0.1, metadata={"help": "Temperature of smooth Tchebycheff."})
    orth_reg_weight: float | None = field(
        default=None, metadata={"help": "Orthogonality penalty weight; None uses the adapter config's."}
    )

    preference_support: str = field(default="simplex", metadata={"help": "'simplex' or 'labelled'."})
    preference_lr_ratio: float = field(
        default=1.0, metadata={"help": "Learning-rate multiplier of the preference directions."}
    )

    def _check_panacea_arguments(self) -> None:
        choices = {
            "aggregation": AGGREGATIONS,
            "preference_sampling": SAMPLINGS,
            "preference_granularity": self.granularities,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {getattr(self, name)!r}.")
        if not self.dirichlet_alpha > 0:
            raise ValueError(f"`dirichlet_alpha` must be > 0, got {self.dirichlet_alpha}.")
        if not 0 <= self.vertex_probability <= 1:
            raise ValueError(f"`vertex_probability` must be in [0, 1], got {self.vertex_probability}.")
        if not self.smooth_tchebycheff_mu > 0:
            raise ValueError(f"`smooth_tchebycheff_mu` must be > 0, got {self.smooth_tchebycheff_mu}.")
        if self.orth_reg_weight is not None and not self.orth_reg_weight >= 0:
            raise ValueError(f"`orth_reg_weight` must be >= 0, got {self.orth_reg_weight}.")
        if self.preference_support not in SUPPORTS:
            raise ValueError(f"`preference_support` must be one of {SUPPORTS}, got {self.preference_support!r}.")
        if self.preference_support == "labelled" and self.preference_granularity != "sample":
            raise ValueError(
                "`preference_support='labelled'` draws one preference per row from that row's labels; set "
                "preference_granularity='sample'."
            )
        if not (0 < self.preference_lr_ratio < float("inf")):
            raise ValueError(f"`preference_lr_ratio` must be a finite number > 0, got {self.preference_lr_ratio}.")


REWARD_NORMALIZATIONS = ("running", "group", "none")


@dataclass
class PanaceaOnlineArguments(PanaceaArguments):
    """Options of the online (GRPO / RLOO) Panacea trainers, on top of :class:`PanaceaArguments`.

    Args:
        preference_granularity: ``"batch"``: one preference per generation batch (works with every generation
            backend, vLLM included); ``"group"``: one per prompt group, shared by all its completions, so
            group-relative advantages compare completions made under the same preference.
        reward_normalization: Per-objective normalisation before aggregation, since preference weights mean nothing
            across objectives on different scales: ``"running"`` (mean/std over all rewards seen so far),
            ``"group"`` (z-score within each prompt group) or ``"none"``.
        tchebycheff_ideal_point: Ideal point in raw reward units (needs ``reward_normalization`` "running" or
            "none"); default: the running per-objective maximum of the normalised rewards.
        check_reward_names: Require callable reward functions to be named like the adapter's
            ``preference_names``, which catches objectives passed in the wrong order.
    """

    granularities: ClassVar[tuple[str, ...]] = ("batch", "group")

    reward_normalization: str = field(default="running", metadata={"help": f"One of {REWARD_NORMALIZATIONS}."})
    check_reward_names: bool = field(default=True, metadata={"help": "Match reward function names to objectives."})

    def _check_panacea_arguments(self) -> None:
        super()._check_panacea_arguments()
        if self.reward_normalization not in REWARD_NORMALIZATIONS:
            raise ValueError(
                f"`reward_normalization` must be one of {REWARD_NORMALIZATIONS}, got {self.reward_normalization!r}."
            )
        if self.tchebycheff_ideal_point is not None and self.reward_normalization == "group":
            raise ValueError(
                "A fixed `tchebycheff_ideal_point` is in raw reward units and cannot follow per-group z-scores; use "
                "reward_normalization='running' or 'none', or leave the ideal point to the running maximum."
            )


@dataclass(frozen=True)
class UnsupportedOption:
    """An option inherited from a TRL config that the Panacea loss does not implement.

    DPO and SFT replace TRL's loss outright, so such an option would otherwise be silently ignored; each config
    refuses the values it cannot honour at construction instead.

    Attributes:
        name: The config field.
        is_supported: True for the values the Panacea loss honours (the TRL default among them).
        fix: What to do instead, ending the error message.
    """

    name: str
    is_supported: Callable[[Any], bool]
    fix: str


def refuse_unsupported_options(config: Any, options: Sequence[UnsupportedOption]) -> None:
    """Raise ``ValueError`` naming the first option of ``options`` whose value ``config`` sets but cannot honour."""
    for option in options:
        value = getattr(config, option.name)
        if not option.is_supported(value):
            raise ValueError(
                f"{type(config).__name__} does not support `{option.name}={value!r}`: the Panacea loss replaces "
                f"TRL's and does not implement it. {option.fix}"
            )
