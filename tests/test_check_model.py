"""`iclgd check` and :func:`iclgd.properties.model_check.check_model`: a model from outside the suite
against a claim.

The Done-when models on M1 (d = 5, n = 20, σ² = 0.5) — one GD step at the optimal η, the same at 0.9 η,
the ridge posterior mean — read reached, not-reached (gap interval excluding 0) and better-than-class;
the expected numbers come from routes the checker does not use: the exact population loss of Γ from the
derived moments (:func:`iclgd.theory.derivation.population_loss`) and the registry's GD-average and OLS
closed forms. Bad models exit 2 with one line; the nn.Module, TorchScript and Class + weights paths;
refutation (a Γ-predictor below a deliberately wrong L*, ``ICLGD_PERTURB``) and below-Bayes (a model that
regenerates the evaluation's prompts: leakage). Statistical tolerances: the checker's own 99.9 % intervals
(a fixed seed, so each test is deterministic; each interval assertion would fail for at most 1e-3 of
seeds); the slow test measures their coverage and the reach decision's false-alarm rate by repetition.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from iclgd.cli import main
from iclgd.empirics.external import ModelError, load_model, wrap_model
from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties import model_check
from iclgd.properties.laws import sampler_args
from iclgd.properties.verdicts import (BELOW_BAYES, BETTER_THAN_CLASS, INCONCLUSIVE, NOT_REACHED, REACHED,
                                       REFUTED)
from iclgd.theory import Setting, get_claim
from iclgd.theory.derivation import population_loss

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "byo_model" / "gd_model.py"
M1 = ["--claim", "M1", "--d", "5", "--n", "20", "--sigma2", "0.5"]
S = Setting(5, 20, 0.5)
# 16 384 prompts: the SE of the 0.9 η model's paired gap is ≈ 0.0045 (2.6e-3 L*), so its 99.9 % interval
# (z = 3.29) sits above the margin 0.01 L* = 0.0173 (true gap 0.0377) — not-reached is decided
PROMPTS = ["--prompts", "16384"]


def _run(capsys, *args) -> tuple[int, dict | None, str]:
    rc = main(["check", *args])
    cap = capsys.readouterr()
    return rc, (json.loads(cap.out) if "--json" in args and rc != 2 else None), cap.err


def _eta() -> float:
    return float(get_claim("M1").predict(S, exact=False).eta)


def test_three_models_on_m1(capsys):
    L_star = get_claim("M1").predict(S, exact=False).loss
    out = {}
    for name in ("one_step_gd", "one_step_gd_short", "ridge_posterior_mean"):
        rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:{name}", *M1, *PROMPTS, "--json")
        out[name] = (rc, o, o["points"][0])
    rc, o, p = out["one_step_gd"]
    assert (rc, o["verdict"], p["in_class"]) == (0, REACHED, True)
    assert p["gamma_rel_error"] < 1e-12  # the effective Γ read off its outputs is η I
    rc, o, p = out["one_step_gd_short"]
    assert (rc, o["verdict"], p["in_class"]) == (1, NOT_REACHED, True)
    true_gap = population_loss(S, 0.9 * _eta() * np.eye(5)) - L_star  # exact, from the derived moments
    assert 0 < p["gap"]["lo"] <= true_gap <= p["gap"]["hi"]  # the interval excludes 0 and covers the truth
    assert abs(p["gamma_rel_error"] - 0.1) < 1e-12
    rc, o, p = out["ridge_posterior_mean"]
    assert (rc, o["verdict"], p["in_class"]) == (0, BETTER_THAN_CLASS, False)
    assert p["gap"]["hi"] < 0 and not any(c["verdict"] == REFUTED for c in o["checks"])
    assert p["bayes_gap"]["lo"] <= 0 <= p["bayes_gap"]["hi"]  # it *is* the posterior mean
    # --json carries the risk, its interval, L*, the Bayes risk and each baseline
    for key in ("mean", "se", "lo", "hi"):
        assert math.isfinite(p["risk"][key])
    assert p["loss_star"] == L_star
    assert set(p["baselines"]) == {"ols", "averaging", "ridge"}
    # the baselines against the registry's closed forms (independent of the checker's code)
    for name, claim in (("averaging", "GD-average"), ("ols", "OLS")):
        b, exact = p["baselines"][name], get_claim(claim).predict(S, exact=False).loss
        assert b["lo"] <= exact <= b["hi"], (name, b, exact)
    # ridge's measured risk and the Rao-Blackwellised Bayes risk estimate one number: within z (SE_r + SE_b),
    # the triangle bound on the SE of a difference of two correlated estimates
    r, b = p["baselines"]["ridge"], p["bayes_risk"]
    assert abs(r["mean"] - b["mean"]) <= o["z_interval"] * (r["se"] + b["se"]), (r, b)


@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")  # TorchScript is what users still ship
def test_module_torchscript_and_class_with_weights(capsys, tmp_path):
    sys.path.insert(0, str(EXAMPLE.parent))
    try:
        import gd_model
    finally:
        sys.path.remove(str(EXAMPLE.parent))
    eta = _eta()
    script = tmp_path / "gd.pt"
    torch.jit.save(torch.jit.script(gd_model.GammaPredictor(5, eta)), str(script))
    weights = tmp_path / "short.pt"
    torch.save(gd_model.GammaPredictor(5, 0.9 * eta).state_dict(), weights)
    cases = [
        (["--model", f"{EXAMPLE}:gd_module"], REACHED),  # an nn.Module instance (float32 tensors in)
        (["--model", str(script)], REACHED),  # TorchScript
        (["--model", f"{EXAMPLE}:GammaPredictor", "--weights", str(weights), "--model-kwargs", '{"d": 5}'], NOT_REACHED),
    ]
    for args, verdict in cases:
        rc, o, err = _run(capsys, *args, *M1, *PROMPTS, "--json")
        assert o["verdict"] == verdict, (args, err)
    assert o["model_class"]["declared"] == "lsa"  # GammaPredictor.iclgd_class
    # an LSA in Mahankali et al.'s weights: Γ read from W_K, W_Q, W_V, h beside Γ*
    report = model_check.check_model(wrap_model(gd_model.LSA(5, eta)), "M1", S, prompts=4096)
    assert report.model_class["weights"] == "weights W_K, W_Q, W_V, h"
    assert np.allclose(report.gamma_weights, eta * np.eye(5), rtol=1e-6)
    assert report.verdict == REACHED


BAD = textwrap.dedent("""
    import numpy as np
    CONSTANT = 3
    def raises(X, y, xq):
        return 1 / 0
    def column(X, y, xq):
        return np.zeros((X.shape[0], 1))
    def nan(X, y, xq):
        out = np.zeros(X.shape[0]); out[7] = np.nan
        return out
    def text(X, y, xq):
        return "y_hat"
    class NeedsArg:
        def __init__(self, width):
            self.width = width
""")


@pytest.mark.parametrize("spec, extra, words", [
    ("bad.py:raises", [], "raised ZeroDivisionError"),
    ("bad.py:column", [], "returned shape (2048, 1) for 2048 prompts"),
    ("bad.py:nan", [], "returned 1 non-finite value(s) of 2048 (first at index 7: nan)"),
    ("bad.py:text", [], "returned a str"),
    ("bad.py:CONSTANT", [], "is a int"),
    ("bad.py:missing", [], "has no attribute 'missing'"),
    ("nowhere.py:f", [], "does not exist"),
    ("bad.py:NeedsArg", [], "NeedsArg(**{}) raised TypeError"),
    ("bad.py:NeedsArg", ["--model-kwargs", "{width: 1}"], "--model-kwargs: not JSON"),
    ("bad.py:raises", ["--weights", "w.pt"], "--weights:"),
    ("no_such_package_xyz.mod:f", [], "no module named"),
    ("model.pt", [], "does not exist"),
])
def test_bad_models_exit_2_with_one_line(capsys, tmp_path, monkeypatch, spec, extra, words):
    (tmp_path / "bad.py").write_text(BAD)
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(capsys, "--model", spec, *extra, *M1, "--prompts", "2048", "--batch", "2048", "--json")
    lines = err.strip().splitlines()
    assert rc == 2 and "Traceback" not in err
    # argparse's usage block, then exactly one error line naming the flag
    assert lines[0].startswith("usage:") and [ln for ln in lines if "error:" in ln] == lines[-1:], err
    assert lines[-1].startswith("iclgd check: error: --") and words in lines[-1], lines[-1]


def test_claim_without_gamma_or_law_exits_2(capsys):
    rc, _, err = _run(capsys, "--model", f"{EXAMPLE}:one_step_gd", "--claim", "S2", "--d", "2", "--n", "4")
    assert rc == 2 and err.strip().splitlines()[-1].startswith("iclgd check: error: --claim:"), err


def test_refuted_only_inside_the_class(capsys, tmp_path, monkeypatch):
    """With M1's closed form deliberately broken (Γ*, L* × 1.2), the true optimum — a Γ-predictor —
    beats the 'claimed optimum': a counterexample, recorded and citable; the ridge posterior mean beats it
    too, but is outside the class: better-than-class, never refuted."""
    monkeypatch.setenv("ICLGD_PERTURB", "M1:0.2")  # Γ = η I beats 1.2 η I by 0.04 η d ≈ 0.15 (≈ 16 SE)
    recs = tmp_path / "recs"
    rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:one_step_gd", *M1, *PROMPTS, "--records", str(recs), "--json")
    assert (rc, o["verdict"]) == (1, REFUTED) and len(o["records"]) == 1
    rec = json.loads(next((recs / "perturbed").glob("*.json")).read_text())  # a perturbed run's record
    assert rec["verdict"] == REFUTED and rec["claim"] == "M1" and rec["reproduce"].startswith("iclgd ")
    assert main(["counterexamples", "replay", rec["id"], "--dir", str(recs)]) == 2  # not a test: says how instead
    assert "was written by `iclgd check`" in capsys.readouterr().err
    rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:ridge_posterior_mean", *M1, *PROMPTS, "--json")
    assert o["verdict"] == BETTER_THAN_CLASS and not o["records"]
    rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:one_step_gd", *M1, *PROMPTS, "--model-class", "other", "--json")
    assert o["verdict"] == BETTER_THAN_CLASS  # declared outside: its gain is no counterexample


def test_leakage_reads_below_bayes():
    """A model that regenerates the evaluation's prompts (it knows the seed) and returns wᵀx_q: risk σ²,
    below the Bayes risk of the law — said as an evaluation error, not as anything about the claim."""
    law = sampler_args("M1", S)

    def leaky(X, y, xq):
        p = sample_prompts(len(X), 20, 5, generator=generator(model_check._chunk_seed(0, 20, 0)),
                           dtype=torch.float64, **law)
        return (p.w[:, 0] * p.X[:, 20]).sum(-1).numpy()

    report = model_check.check_model(wrap_model(leaky), "M1", S, prompts=4096, batch=4096)
    assert report.verdict == BELOW_BAYES and not report.ok
    assert report.points[0].risk.lo <= 0.5 <= report.points[0].risk.hi  # σ²: it saw the noise-free answer


def test_a_model_that_writes_into_its_inputs_changes_nothing():
    """It gets copies: Γ*'s risk on the same prompts still covers L* (99.9 % interval), its own is E y_q² = d + σ²."""
    def vandal(X, y, xq):
        X[:], y[:], xq[:] = 0, 0, 0
        return np.zeros(len(X))

    p = model_check.check_model(wrap_model(vandal), "M1", S, prompts=8192).points[0]
    assert p.risk_star.lo <= p.loss_star <= p.risk_star.hi and p.risk.lo <= 5.5 <= p.risk.hi


def test_bayes_risk_primal_equals_dual():
    """The checker's conditional Bayes risk σ² + σ² x_qᵀ(XᵀX + σ²Σ_w⁻¹)⁻¹x_q (d × d) against the suite's dual
    form σ² + x_qᵀ(Σ_w − Σ_w Xᵀ(XΣ_wXᵀ + σ²I)⁻¹XΣ_w)x_q (n × n), on the same prompts: one number (Woodbury),
    to float64 rounding of two different solves (1e-10 relative)."""
    from iclgd.empirics.relaxation import ridge_bayes_risk

    Sw = torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]], dtype=torch.float64)
    for n in (1, 3, 9):
        p = sample_prompts(512, n, 3, generator=generator(n), Sigma_w=Sw, sigma2=0.25)
        primal = model_check.conditional_bayes_risk(p, Sw, 0.25)
        dual, _ = ridge_bayes_risk(p, Sw, 0.25)
        assert abs(float(primal.mean()) - dual) <= 1e-10 * dual, (n, float(primal.mean()), dual)


def test_grid(capsys):
    rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:one_step_gd_short", "--claim", "M1", "--d", "3", "--n", "2:8:3",
                    "--sigma2", "0.5", "--prompts", "4096", "--json")
    assert [p["n"] for p in o["points"]] == [2, 5, 8]
    assert o["z_interval"] > model_check.z_crit(1, model_check.INTERVAL_ALPHA)  # Bonferroni over 3 n


@pytest.mark.slow  # matplotlib's import alone is ~2 s
def test_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    for n, name in (("2:8:3", "grid.png"), ("5", "one.png")):  # risk vs n + heatmaps; heatmaps alone
        rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:one_step_gd_short", "--claim", "M1", "--d", "3", "--n", n,
                        "--sigma2", "0.5", "--prompts", "4096", "--plot", str(tmp_path / name), "--json")
        assert (tmp_path / name).stat().st_size > 0 and o["figure"] == str(tmp_path / name)
    rc, o, _ = _run(capsys, "--model", f"{EXAMPLE}:ridge_posterior_mean", "--claim", "M1", "--d", "3", "--n", "5",
                    "--sigma2", "0.5", "--prompts", "4096", "--plot", str(tmp_path / "out.png"), "--json")
    assert (tmp_path / "out.png").stat().st_size > 0  # outside the class: the risks alone


def test_load_model_spec_forms(tmp_path):
    m = load_model("iclgd.empirics.models:tokens")  # package.module:function
    assert m.kind == "function"
    with pytest.raises(ModelError, match="--model: 'nothing'"):
        load_model("nothing")


def test_plugin_registers_the_harness_once(pytestconfig):
    """With the pytest11 entry point installed, the harness is one plugin, whichever of the entry point
    and conftest.py asked first."""
    import iclgd.properties.harness as harness

    pm = pytestconfig.pluginmanager
    assert sum(p is harness for p in pm.get_plugins()) == 1
    if not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        import iclgd.pytest_plugin as plugin

        assert pm.get_plugin("iclgd") is plugin


# ---- a user's repository: the plugin from outside the tree ------------------------------------------
USER_TEST = textwrap.dedent("""
    import pytest
    from gd_model import one_step_gd, one_step_gd_short

    @pytest.mark.claim("M1")
    def test_my_model_reaches_the_optimum(check_model):
        report = check_model(one_step_gd, d=5, n=20, sigma2=0.5, prompts=16384)
        assert report.ok, report.summary()

    @pytest.mark.claim("M1")
    def test_an_undertrained_model_is_flagged(check_model):
        report = check_model(one_step_gd_short, d=5, n=20, sigma2=0.5, prompts=16384)
        assert report.verdict == "not-reached", report.summary()

    @pytest.mark.claim("M1")
    def test_a_check_of_my_own(claim_checks):
        c = claim_checks.check("M1", "my read-off of η", 0.7547, 0.7547 + 1e-12, 1e-9, "float64 rounding")
        assert c.verdict == "held" and claim_checks.checks == [c]
""")
PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"


def _pytest(folder: Path, *args, env=None):
    return subprocess.run([str(Path(sys.executable).parent / "pytest"), "-p", "no:cacheprovider", *args],
                          cwd=folder, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_plugin_in_a_users_repository(tmp_path):
    repo = tmp_path / "their_repo"
    (repo / "tests").mkdir(parents=True)
    shutil.copy(EXAMPLE, repo / "tests" / "gd_model.py")
    (repo / "tests" / "test_model.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICLGD_", "PYTEST_"))}
    env["ICLGD_COUNTEREXAMPLES_DIR"] = str(tmp_path / "recs")
    proc = _pytest(repo, "tests", "-q", "--strict-markers", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = [json.loads(p.read_text()) for p in (tmp_path / "recs").glob("*.json")]
    assert [(r["claim"], r["verdict"], r["test"]) for r in recs] == [
        ("M1", NOT_REACHED, "tests/test_model.py::test_an_undertrained_model_is_flagged")]
    # `iclgd verify --suite their/tests` writes the report
    out = tmp_path / "report"
    v = subprocess.run([str(Path(sys.executable).parent / "iclgd"), "verify", "--suite", str(repo / "tests"),
                        "--out", str(out), "--records", str(tmp_path / "recs2"), "--workers", "0", "--tiers", "theory",
                        "--json"], cwd=repo, capture_output=True, text=True, timeout=600, env=env)
    assert v.returncode == 0, v.stdout[-2000:] + v.stderr[-2000:]
    row = next(c for c in json.loads((out / "report.json").read_text())["claims"] if c["id"] == "M1")
    assert row["status"] == NOT_REACHED and (out / "report.md").exists()


@pytest.mark.slow
def test_plugin_changes_nothing_in_a_run_that_does_not_use_it(tmp_path):
    (tmp_path / "test_plain.py").write_text(PLAIN_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICLGD_", "PYTEST_"))}
    runs = [_pytest(tmp_path, "-q", *extra, env=env) for extra in (["-p", "no:iclgd"], [])]
    strip = [[ln for ln in r.stdout.splitlines() if " in " not in ln] for r in runs]  # drop the timing line
    assert runs[0].returncode == runs[1].returncode == 0 and strip[0] == strip[1], [r.stdout for r in runs]
    assert runs[0].stderr == runs[1].stderr == ""
    assert {p.name for p in tmp_path.iterdir()} <= {"__pycache__", "test_plain.py"}  # no files written


# ---- calibration: the intervals' coverage and the reach decision's false alarms --------------------------
def _binom_upper(R: int, p: float, alpha: float = 1e-3) -> int:
    """The smallest k with P(Bin(R, p) > k) ≤ alpha: a count above it fails at most alpha of the time."""
    tail, k = 1.0, -1
    while tail > alpha:
        k += 1
        tail -= math.comb(R, k) * p**k * (1 - p) ** (R - k)
    return k


@pytest.mark.quality
def test_interval_coverage_and_false_alarm_rate():
    """R seeds (``ICLGD_CALIBRATION_SEEDS``, default 10, a smoke check; the README's numbers are from 300) each of
    (a) 0.9 η, true gap from the exact population loss: the nominal-90 % interval's coverage within the
    binomial's 99.9 % range, and the checker's 99.9 % interval missing no more often than Bin(R, 1e-3)
    allows at 1e-3; (b) a model exactly at the margin (true gap = 0.01 L*): reached and not-reached each no
    more often than Bin(R, 5e-4) allows (each is ≤ 5e-4 per run by construction); (c) one GD step at η
    computed independently in float32 (an nn.Module): never not-reached, inconclusive or refuted."""
    R = int(os.environ.get("ICLGD_CALIBRATION_SEEDS", "10"))
    eta, L = _eta(), get_claim("M1").predict(S, exact=False).loss
    models = {"short": 0.9, "edge": _solve_edge(eta, L)}
    z90 = 1.6448536269514722  # two-sided 90 %
    counts = {"cover90": 0, "miss": 0, "edge_reached": 0, "edge_not": 0, "exact_bad": 0}
    true = {k: population_loss(S, c * eta * np.eye(5)) - L for k, c in models.items()}
    gp = _GammaModule(eta)
    for seed in range(R):
        for k, c in models.items():
            p = model_check.check_model(wrap_model(_scaled(c * eta)), "M1", S, prompts=4096, seed=seed).points[0]
            if k == "short":
                counts["cover90"] += abs(p.gap.mean - true[k]) <= z90 * p.gap.se
                counts["miss"] += not (p.gap.lo <= true[k] <= p.gap.hi)
            else:
                counts["edge_reached"] += p.verdict == REACHED
                counts["edge_not"] += p.verdict == NOT_REACHED
        v = model_check.check_model(wrap_model(gp), "M1", S, prompts=4096, seed=seed).verdict
        counts["exact_bad"] += v in (NOT_REACHED, REFUTED, INCONCLUSIVE)
    print(f"calibration over {R} seeds: {counts}")
    lo = R - _binom_upper(R, 0.1)  # coverage: at least this many of R (failing with probability ≤ 1e-3)
    assert lo <= counts["cover90"] <= _binom_upper(R, 0.9), counts
    assert counts["miss"] <= _binom_upper(R, 1e-3), counts
    assert max(counts["edge_reached"], counts["edge_not"]) <= _binom_upper(R, 5e-4), counts
    assert counts["exact_bad"] == 0, counts


def _solve_edge(eta: float, L: float) -> float:
    """c < 1 with L(c η I) − L* = 0.01 L*, by bisection on the exact population loss."""
    lo, hi = 0.5, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        gap = population_loss(S, mid * eta * np.eye(5)) - L
        lo, hi = (mid, hi) if gap > 0.01 * L else (lo, mid)
    return (lo + hi) / 2


def _scaled(step: float):
    def f(X, y, xq):
        return step * np.einsum("bn,bnd,bd->b", y, X, xq) / X.shape[1]
    return f


class _GammaModule(torch.nn.Module):
    def __init__(self, eta: float):
        super().__init__()
        self.eta = torch.nn.Parameter(torch.tensor(eta, dtype=torch.float32))

    def forward(self, X, y, xq):
        return self.eta * torch.einsum("bn,bnd,bd->b", y, X, xq) / X.shape[1]


# ---- the gpu tier: the same code with device= ----------------------------------------------------------
class _OptimalStep(torch.nn.Module):
    """One GD step at M1's optimal η for the prompt's own n and d (σ² fixed): a module that runs on the device."""

    def __init__(self, sigma2: float, scale: float = 1.0):
        super().__init__()
        self.register_buffer("sigma2", torch.tensor(sigma2, dtype=torch.float64))
        self.scale = scale

    def forward(self, X, y, xq):
        n, d = X.shape[1], X.shape[2]
        eta = self.scale * n / (n + d + 1 + self.sigma2)
        return eta * torch.einsum("bn,bnd,bd->b", y, X, xq) / n


@pytest.mark.gpu
@pytest.mark.slow
def test_check_on_the_device(device):
    """Prompts drawn by a generator on ``device``, a module run there, a NumPy model fed from it: on CUDA at
    d = 16, n = 32, 64 with 2¹⁸ prompts per n; tiny on CPU behind ICLGD_GPU_ON_CPU (d = 3, n = 4, 8)."""
    cuda = device.type == "cuda"
    d, ns, prompts = (16, [32, 64], 1 << 18) if cuda else (3, [4, 8], 4096)
    setting = Setting(d, ns[0], 0.5)
    report = model_check.check_model(wrap_model(_OptimalStep(0.5), device=device), "M1", setting, ns, device=device,
                                     prompts=prompts)
    assert report.verdict == REACHED and report.device == str(device), report.summary()
    ridge = model_check.check_model(wrap_model(_ridge), "M1", setting, ns, device=device, prompts=prompts)
    assert ridge.verdict == BETTER_THAN_CLASS, ridge.summary()
    if cuda:  # enough prompts to decide the 0.9 η model's gap at these sizes
        short = model_check.check_model(wrap_model(_OptimalStep(0.5, 0.9), device=device), "M1", setting, ns,
                                        device=device, prompts=prompts)
        assert short.verdict == NOT_REACHED, short.summary()


def _ridge(X, y, xq):
    """The posterior mean at σ² = 0.5 for w ~ N(0, I), any d (NumPy)."""
    A = np.einsum("bnd,bne->bde", X, X) + 0.5 * np.eye(X.shape[2])
    w = np.linalg.solve(A, np.einsum("bnd,bn->bd", X, y)[..., None])[..., 0]
    return np.einsum("bd,bd->b", w, xq)
