"""bench/ plumbing (issue 14): the statistical floor's estimator and the ratio table's bookkeeping.
Timings themselves are measured by `python bench/bench_train.py`, never asserted in tests."""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "bench"))
import time_to_target as ttt  # noqa: E402

from iclgd.empirics.sampling import generator  # noqa: E402
from iclgd.empirics.train import prompt_sampler  # noqa: E402

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)


def test_floor_is_least_squares_of_the_query_averaged_loss():
    """Γ̂ = A⁻¹C minimises Σ_b (Γᵀg_b − w_b)ᵀΣ(Γᵀg_b − w_b) = Σ_b E_{x_q,ε}(g_bᵀΓx_q − y_q)² − const, for
    any Σ: the gradient vanishes there (float64)."""
    d, n, B = 3, 6, 400
    Sigma = torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]], dtype=torch.float64)
    X, y, w = prompt_sampler(n, d, 1, dtype=torch.float64, Sigma=Sigma, sigma2=0.5).tasks(B, generator(0))
    A, C = ttt.floor_moments(X[0], y[0], w[0])
    G = torch.linalg.solve(A, C).requires_grad_(True)
    g = (y[0, :, :n, None] * X[0, :, :n]).mean(1)  # (B, d)
    e = g @ G - w[0]
    ((e @ Sigma) * e).sum().backward()
    assert float(G.grad.abs().max()) < 1e-9 * float(A.abs().max())  # a convex quadratic: its minimiser


def _run(method, secs, prompts):
    return ttt.Run(method, 1, seconds=secs, prompts=prompts)


def test_ratios_count_missed_runs_at_the_budget_as_lower_bounds():
    runs = {("c", "floor"): [_run("floor", {0.01: 0.1}, {0.01: 100}) for _ in range(3)],
            ("c", "ours-1"): [_run("ours", {0.01: s}, {0.01: 200}) for s in (0.2, 0.3, 0.4)],
            ("c", "plain"): [_run("plain", {0.01: 5.0}, {0.01: 10_000}), _run("plain", {}, {}), _run("plain", {}, {})]}
    (row,) = ttt.ratios(runs, (0.01,), budget=60.0)
    assert row["seconds"] == {"floor": 0.1, "ours-1": 0.3, "plain": 60.0}  # misses count at the budget
    r = row["ratios"]
    assert r["plain (b) / ours, one replica"] == {"value": 200.0, "lower_bound": True, "denominator_missed": False}
    assert r["ours, one replica / floor [target ≤ 3 at 1%]"]["value"] == pytest.approx(3.0)
    assert r["prompts: ours, one replica / floor"]["value"] == 2.0
    assert r["prompts: plain (b) / floor"]["value"] is None  # no median of prompts over missed runs
    assert "≥ 200×" in ttt.format_ratios([row], 60.0)


@pytest.mark.parametrize("argv, flag", [(["--seeds", "0"], "--seeds"), (["--max-seconds", "0"], "--max-seconds"),
                                        (["--device", "tpu"], "--device")]
                         + ([] if torch.cuda.is_available() else [(["--device", "cuda"], "--device")]))
def test_bench_bad_input_is_one_line_naming_the_flag(argv, flag, capsys):
    import bench_train

    assert bench_train.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench_train.py: error: " + flag)
