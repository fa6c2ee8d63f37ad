"""Training options shared by the Panacea trainer configs (mixed into TRL's DPOConfig / SFTConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..aggregation import AGGREGATIONS

GRANULARITIES = ("batch", "sample")
SAMPLINGS = ("uniform", "dirichlet", "vertex")


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
    """

    aggregation: str = field(default="linear", metadata={"help": f"One of {AGGREGATIONS}."})
    preference_sampling: str = field(default="uniform", metadata={"help": f"One of {SAMPLINGS}."})
    dirichlet_alpha: float = field(default=1.0, metadata={"help": "Concentration for 'dirichlet' sampling."})
    vertex_probability: float = field(default=0.3, metadata={"help": "Probability of a corner for 'vertex'."})
    preference_granularity: str = field(default="batch", metadata={"help": f"One of {GRANULARITIES}."})
    tchebycheff_ideal_point: list[float] | None = field(
        default=None, metadata={"help": "Ideal point z per objective (default zeros)."}
    )
    smooth_tchebycheff_mu: float = field(default=0.1, metadata={"help": "Temperature of smooth Tchebycheff."})
    orth_reg_weight: float | None = field(
        default=None, metadata={"help": "Orthogonality penalty weight; None uses the adapter config's."}
    )

    def _check_panacea_arguments(self) -> None:
        choices = {
            "aggregation": AGGREGATIONS,
            "preference_sampling": SAMPLINGS,
            "preference_granularity": GRANULARITIES,
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
