"""The counterexample recorder and `iclgd counterexamples`/`verify` plumbing, under pytest-xdist.

An inner pytest session (subprocess, 2 xdist workers) runs a deliberately broken claim — the
``ICLGD_PERTURB`` switch scales M1's Γ* by 1.05 — and must leave a record that `cite` can turn
into a paragraph, plus one JSON line per test for the report.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from iclgd.cli import main
from iclgd.properties import records
from iclgd.properties.checks import Check

INNER_TEST = textwrap.dedent('''
    import numpy as np
    from hypothesis import given, settings, strategies as st
    from iclgd.properties.checks import check
    from iclgd.theory import Setting, get_claim

    @settings(max_examples=20, derandomize=True, database=None)
    @given(d=st.integers(1, 4), n=st.integers(1, 30))
    def test_m1_against_its_derivation(d, n):
        from iclgd.theory.derivation import population_loss_grad
        s = Setting(d, n, 0.5)
        grad = population_loss_grad(s, get_claim("M1").predict(s).gamma)
        c = check("M1", "gradient of L at predicted Γ*", np.zeros((d, d)), grad, 1e-9,
                  "float64 round-off of a d×d product", dict(d=d, n=n, sigma2=0.5), error=float(np.abs(grad).max()))
        assert c.holds, c.summary()

    def test_refutation_is_recorded():
        check("M2", "Γ* ∝ Σ⁻¹ under w ~ N(0, I)", 0.0, 1.0, 1e-9, "exact", dict(d=2), expect="refute")

    def test_plain_pass():
        check("M3", "eta", 0.5, 0.5, 0.0, "exact", dict(d=4))

    def test_reports_a_finding():
        check("M2", "an empirical pattern, reported not asserted", 1.0, 0.5, 0.1, "r", dict(shots=2))
''')


@pytest.fixture
def inner(tmp_path):
    (tmp_path / "conftest.py").write_text(
        'from hypothesis import settings\n'
        'settings.register_profile("inner", print_blob=True)\n'
        'settings.load_profile("inner")\n'
        'pytest_plugins = ["iclgd.properties.harness"]\n')
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    env = dict(os.environ, ICLGD_RESULTS_DIR=str(tmp_path / "raw"), ICLGD_COUNTEREXAMPLES_DIR=str(tmp_path / "recs"),
               ICLGD_PERTURB="M1:0.05")
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return tmp_path, proc


def test_recorder_writes_records_under_xdist(inner, capsys):
    tmp, proc = inner
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken claim must fail
    recs = records.load_all(tmp / "recs")
    failed = [r for r in recs if r["verdict"] == "failed"]
    refuted = [r for r in recs if r["verdict"] == "refuted-as-expected"]
    assert len(failed) == 2 and len(refuted) == 1, [r["id"] for r in recs]
    assert {r["test"].split("::")[1] for r in failed} == {"test_m1_against_its_derivation", "test_reports_a_finding"}
    rec = next(r for r in failed if r["claim"] == "M1")
    assert rec["claim"] == "M1" and rec["citation"]["theorem"] == "Theorem 1"
    assert rec["inputs"] == {"d": 1, "n": 1, "sigma2": 0.5}  # Hypothesis shrank to the minimal case
    assert rec["error"] > rec["tolerance"] and rec["tolerance_reason"]
    assert rec["hypothesis_blob"].startswith("@reproduce_failure(")  # the exact replay of the minimal case
    assert "ICLGD_PERTURB=M1:0.05" in rec["reproduce"] and "test_m1_against_its_derivation" in rec["reproduce"]
    assert {"python", "numpy", "sympy", "hypothesis", "iclgd"} <= set(rec["versions"])
    assert rec["id"].startswith("M1-") and (tmp / "recs" / f"{rec['id']}.json").exists()
    assert not list((tmp / "recs").glob(".tmp-*"))  # atomic writes leave no temp files
    rows = [json.loads(line) for p in (tmp / "raw").glob("tests-*.jsonl") for line in p.read_text().splitlines()]
    assert {r["nodeid"].split("::")[1] for r in rows} == {
        "test_m1_against_its_derivation", "test_refutation_is_recorded", "test_plain_pass", "test_reports_a_finding"}
    assert next(r for r in rows if r["nodeid"].endswith("finding"))["findings"] == 1
    assert len({p.name for p in (tmp / "raw").glob("tests-*.jsonl")}) >= 1

    assert main(["counterexamples", "cite", rec["id"][:8], "--dir", str(tmp / "recs")]) == 0
    text = capsys.readouterr().out
    assert f"Counterexample `{rec['id']}` to claim M1" in text and "@inproceedings{mahankali2024onestep" in text
    assert main(["counterexamples", "list", "--dir", str(tmp / "recs"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_record_ids_are_content_addressed():
    a = Check("M1", "gamma", [1.0], [1.1], 0.1, 1e-3, "r", {"d": 1})
    b = Check("M1", "gamma", [1.0], [1.1], 0.1, 1e-3, "another reason", {"d": 1})
    c = Check("M1", "gamma", [1.0], [1.2], 0.2, 1e-3, "r", {"d": 1})
    assert records.record_id(a) == records.record_id(b) != records.record_id(c)


def test_counterexamples_cli_errors(capsys, tmp_path):
    assert main(["counterexamples", "show", "nope", "--dir", str(tmp_path)]) == 2
    assert "ID: no record matching 'nope'" in capsys.readouterr().err
    assert main(["counterexamples", "cite", "--dir", str(tmp_path)]) == 2


@pytest.mark.parametrize("argv, flag", [
    (["--tiers", "theory,bogus"], "--tiers"), (["--profile", "weekly"], "--profile"),
    (["--workers", "many"], "--workers"), (["--model", "/no/such/model"], "--model"),
    (["--perturb", "M1=0.1"], "--perturb"), (["--suite", "/no/such/tests"], "--suite"),
])
def test_verify_bad_input(capsys, tmp_path, argv, flag):
    assert main(["verify", "--out", str(tmp_path / "r"), *argv]) == 2
    assert flag in capsys.readouterr().err.strip().splitlines()[-1]
