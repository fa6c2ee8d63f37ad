import pytest
import torch

from peft_panacea.aggregation import aggregate, linear_scalarization, smooth_tchebycheff, tchebycheff
from peft_panacea.sampling import PreferenceSampler, preference_grid


def test_grid_two_objectives_is_the_papers_eleven_points():
    grid = preference_grid(2, 11)
    assert grid.shape == (11, 2)
    torch.testing.assert_close(grid[:, 0], torch.linspace(0, 1, 11))
    torch.testing.assert_close(grid.sum(-1), torch.ones(11))


def test_grid_three_objectives_is_the_das_dennis_lattice():
    grid = preference_grid(3, 3)  # steps of 1/2
    expected = {(0, 0, 1), (0, 0.5, 0.5), (0, 1, 0), (0.5, 0, 0.5), (0.5, 0.5, 0), (1, 0, 0)}
    assert {tuple(row.tolist()) for row in grid} == expected
    assert preference_grid(10, 3).shape == (55, 10)


@pytest.mark.parametrize("method", ["uniform", "dirichlet", "vertex"])
def test_samples_lie_on_the_simplex_and_are_reproducible(method):
    a = PreferenceSampler(3, method, dirichlet_alpha=0.5, vertex_probability=0.5, seed=7)
    b = PreferenceSampler(3, method, dirichlet_alpha=0.5, vertex_probability=0.5, seed=7)
    for _ in range(3):
        x, y = a.sample(), b.sample()
        assert torch.equal(x, y) and x.shape == (3,)
        assert (x >= 0).all() and abs(x.sum().item() - 1) < 1e-5
    batch = a.sample(64)
    assert batch.shape == (64, 3) and torch.allclose(batch.sum(-1), torch.ones(64))
    assert not torch.equal(a.sample(4, stream=0), b.sample(4, stream=1))


def test_vertex_sampling_hits_corners_at_the_given_rate():
    prefs = PreferenceSampler(2, "vertex", vertex_probability=0.4, seed=0).sample(5000)
    corners = (prefs.max(-1).values == 1).float().mean().item()
    assert abs(corners - 0.4) < 0.03
    assert (PreferenceSampler(2, "uniform").sample(1000).max(-1).values < 1).all()


@pytest.mark.parametrize("method", ["uniform", "vertex"])
def test_support_restricts_each_row_to_its_face(method):
    support = torch.tensor([[True, False, True, False], [False, True, False, False], [False] * 4] * 300)
    prefs = PreferenceSampler(4, method, vertex_probability=0.5, seed=3).sample(len(support), support=support)
    torch.testing.assert_close(prefs.sum(-1), torch.ones(len(support)))
    face, single, free = prefs[0::3], prefs[1::3], prefs[2::3]
    assert (face[:, [1, 3]] == 0).all() and (face[:, [0, 2]] > 0).any(0).all()
    assert (single == torch.tensor([0.0, 1.0, 0.0, 0.0])).all()
    assert (free > 0).any(0).all()  # no label: the whole simplex
    if method == "vertex":  # corners fall on the row's own objectives, each about as often
        corners = face[face.max(-1).values == 1]
        assert abs(len(corners) / len(face) - 0.5) < 0.1
        assert abs(corners[:, 0].mean().item() - 0.5) < 0.15


def test_small_dirichlet_alpha_spreads_towards_corners():
    spread = {
        a: PreferenceSampler(2, "dirichlet", dirichlet_alpha=a).sample(4000)[:, 0].std().item()
        for a in (0.3, 1.0, 5.0)
    }
    assert spread[0.3] > spread[1.0] > spread[5.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pref_dim": 1},
        {"pref_dim": 2, "method": "beta"},
        {"pref_dim": 2, "dirichlet_alpha": 0},
        {"pref_dim": 2, "vertex_probability": 2},
    ],
)
def test_sampler_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        PreferenceSampler(**kwargs)


def test_aggregations_on_hand_computed_values():
    losses = torch.tensor([0.8, 0.2])
    pref = torch.tensor([0.25, 0.75])
    assert linear_scalarization(losses, pref).item() == pytest.approx(0.25 * 0.8 + 0.75 * 0.2)
    assert tchebycheff(losses, pref).item() == pytest.approx(max(0.25 * 0.8, 0.75 * 0.2))
    ideal = torch.tensor([0.1, 0.1])
    assert tchebycheff(losses, pref, ideal).item() == pytest.approx(max(0.25 * 0.7, 0.75 * 0.1))
    mu = 0.05
    expected = mu * torch.log(torch.exp(torch.tensor(0.25 * 0.7 / mu)) + torch.exp(torch.tensor(0.75 * 0.1 / mu)))
    assert smooth_tchebycheff(losses, pref, ideal, mu).item() == pytest.approx(expected.item())
    assert smooth_tchebycheff(losses, pref, ideal, 1e-4).item() == pytest.approx(0.25 * 0.7, abs=1e-3)


def test_masking_and_per_sample_shapes():
    losses = torch.tensor([[0.8, 0.2], [0.5, 0.9]])
    pref = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    mask = torch.tensor([[True, False], [False, False]])
    assert linear_scalarization(losses, pref, mask).tolist() == pytest.approx([0.4, 0.0])
    assert tchebycheff(losses, pref, mask=mask).tolist() == pytest.approx([0.4, 0.0])
    assert smooth_tchebycheff(losses, pref, mask=mask).tolist() == pytest.approx([0.4, 0.0])


def test_reward_convention_is_min_of_weighted_gaps_to_the_ideal():
    rewards = torch.tensor([[1.0, 4.0], [3.0, 2.0]])
    pref = torch.tensor([0.5, 0.5])
    ideal = torch.tensor([3.0, 4.0])
    got = aggregate(rewards, pref, "tchebycheff", ideal=ideal, maximize=True)
    assert got.tolist() == pytest.approx([min(0.5 * (1 - 3), 0.5 * (4 - 4)), min(0.5 * (3 - 3), 0.5 * (2 - 4))])
    assert aggregate(rewards, pref, "linear", maximize=True).tolist() == pytest.approx([2.5, 2.5])
    with pytest.raises(ValueError, match="Unknown aggregation"):
        aggregate(rewards, pref, "max")
