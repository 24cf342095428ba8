"""The harness, the counterexample records and `iclgd counterexamples`/`verify`, under pytest-xdist.

An inner pytest session (subprocess, 2 xdist workers) runs tests of every verdict kind — one of them
against a deliberately broken claim (``ICLGD_PERTURB`` scales M1's Γ* by 1.05) — and must leave one
record per (claim, test, verdict), none for plumbing, and one JSON line per test for the report.
`verify` runs against small inner suites so its exit codes and folder safety are tested in seconds.
"""
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from iclgd.cli import main
from iclgd.properties import records, report, verdicts
from iclgd.properties.checks import Check

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)

INNER_TEST = textwrap.dedent('''
    import numpy as np
    import pytest
    from hypothesis import given, settings, strategies as st
    from iclgd.properties.checks import check
    from iclgd.theory import Setting, get_claim

    @pytest.mark.claim("M1")
    @settings(max_examples=8, derandomize=True, database=None)
    @given(d=st.integers(1, 3), n=st.integers(1, 30))
    def test_m1_against_its_derivation(d, n):
        from iclgd.theory.derivation import population_loss_grad
        s = Setting(d, n, 0.5)
        grad = population_loss_grad(s, get_claim("M1").predict(s).gamma)
        c = check("M1", "gradient of L at predicted Γ*", np.zeros((d, d)), grad, 1e-9,
                  "float64 round-off of a d×d product", dict(d=d, n=n, sigma2=0.5), error=float(np.abs(grad).max()))
        assert c.holds, c.summary()

    @pytest.mark.claim("softmax-1L")
    @settings(max_examples=5, derandomize=True, database=None)
    @given(d=st.integers(1, 3))
    def test_refutation_is_recorded(d):
        check("softmax-1L", "loss = L*", 0.0, 1.0, 1e-9, "exact", dict(d=d), expect="refute")

    @pytest.mark.claim("M3")
    def test_plain_pass():
        check("M3", "eta", 0.5, 0.5, 0.0, "exact", dict(d=4))

    @pytest.mark.claim("S2")
    def test_reports_a_finding():
        check("S2", "an empirical pattern, reported not asserted", 1.0, 0.5, 0.1, "r", dict(shots=2), expect="pattern")

    def test_plumbing_never_counts():
        check("M2", "a tiny random model", 1.0, 0.0, 0.1, "r", dict(d=1))

    @pytest.mark.claim("M2")
    def test_wrong_owner():
        check("M2g", "logged under another claim", 1.0, 1.0, 0.1, "r", dict(d=1))
''')

CONFTEST = ('from hypothesis import settings\n'
            'settings.register_profile("inner", print_blob=True)\n'
            'settings.load_profile("inner")\n'
            'pytest_plugins = ["iclgd.properties.harness"]\n')


def _inner(tmp_path, text=INNER_TEST, **env_extra):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_inner.py").write_text(text)
    env = dict(os.environ, ICLGD_RESULTS_DIR=str(tmp_path / "raw"), ICLGD_COUNTEREXAMPLES_DIR=str(tmp_path / "recs"),
               **env_extra)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def inner(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inner")
    first = _inner(tmp, ICLGD_PERTURB="M1:0.05")
    names = sorted(p.name for p in (tmp / "recs").rglob("*.json"))
    second = _inner(tmp, ICLGD_PERTURB="M1:0.05")  # the same run again: no new record files
    return tmp, first, second, names


def test_one_record_per_claim_test_and_verdict(inner):
    tmp, proc, again, names = inner
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken claim and the ownership error fail
    assert sorted(p.name for p in (tmp / "recs").rglob("*.json")) == names  # a second run adds no file
    assert not list((tmp / "recs").glob("*.json"))  # a perturbed run writes only under perturbed/
    recs = records.load_all(tmp / "recs", perturbed=True)
    by = {(r["claim"], r["verdict"]) for r in recs}
    assert by == {("M1", "refuted"), ("softmax-1L", "refuted-as-expected"), ("S2", "finding")}, by
    assert len(recs) == 3  # five softmax examples refuted as expected: still one record
    rec = next(r for r in recs if r["claim"] == "M1")
    assert rec["perturbed"] == {"M1": 0.05} and rec["citation"]["theorem"] == "Theorem 1"
    assert rec["inputs"] == {"d": 1, "n": 1, "sigma2": 0.5}  # Hypothesis shrank to the minimal case
    assert rec["falsifying_example"] and "d=1" in rec["falsifying_example"]
    assert rec["hypothesis_blob"].startswith("@reproduce_failure(")
    assert "ICLGD_PERTURB=M1:0.05" in rec["reproduce"] and "test_m1_against_its_derivation" in rec["reproduce"]
    assert {"python", "numpy", "sympy", "hypothesis", "iclgd"} <= set(rec["versions"]) and "commit" in rec
    path = tmp / "recs" / "perturbed" / f"{rec['id']}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert not list((tmp / "recs").rglob(".tmp-*"))


def test_rows_count_only_their_own_evidence(inner):
    tmp, *_ = inner
    rows = report.load_rows(tmp / "raw")
    by = {r["nodeid"].split("::")[1]: r for r in rows}
    assert by["test_plumbing_never_counts"]["plumbing"] and not by["test_plumbing_never_counts"]["counts"]
    assert by["test_wrong_owner"]["outcome"] == "failed" and by["test_wrong_owner"]["error"]
    claims = {c["id"]: c for c in report.summarise(rows)}
    assert claims["M1"]["status"] == "refuted" and claims["M3"]["status"] == "held"
    assert claims["softmax-1L"]["status"] == "refuted-as-expected" and claims["S2"]["status"] == "finding"
    assert claims["M2"]["status"] == "skipped" and claims["M2"]["errors"]  # plumbing never lands on M2
    assert claims["M2g"]["status"] == "skipped"
    assert all(report._owner(i) == c["id"] for c in claims.values() for i in c["records"])


def test_a_row_lists_only_its_own_claims_records():
    """A claim id that prefixes another (M1 / M1-trained, M2m / M2m-LSA) must not borrow its records."""
    row = {"nodeid": "t.py::t", "claims": ["M1", "M1-trained", "M2m", "M2m-LSA"], "outcome": "passed",
           "counts": {"M1": {"held": 1}, "M1-trained": {"not-reached": 1}, "M2m": {"held": 1},
                      "M2m-LSA": {"refuted-as-expected": 1}},
           "flagged": [], "failing": [], "worst": {}, "seconds": 1.0, "examples": 1, "error": "",
           "records": ["M1-trained-0123456789ab", "M2m-LSA-0123456789ab", "M1-ba9876543210"]}
    claims = {c["id"]: c for c in report.summarise([row])}
    assert claims["M1"]["records"] == ["M1-ba9876543210"]
    assert claims["M1-trained"]["records"] == ["M1-trained-0123456789ab"]
    assert claims["M2m"]["records"] == [] and claims["M2m-LSA"]["records"] == ["M2m-LSA-0123456789ab"]


def test_row_verdicts_by_claim_kind():
    """A theorem's undecided examples do not hide its decided ones; an empirical pattern stated for every
    cell is inconclusive while any cell is."""
    assert verdicts.row_verdict("theorem", ["held", "inconclusive"]) == "held"
    assert verdicts.row_verdict("empirical", ["held", "inconclusive"]) == "inconclusive"
    assert verdicts.row_verdict("empirical", ["held", "inconclusive", "finding"]) == "finding"
    assert verdicts.row_verdict("empirical", ["held"]) == "held"
    assert verdicts.row_verdict("theorem", ["held", "refuted"]) == "refuted"
    assert verdicts.row_verdict("overgeneralisation", ["held", "refuted-as-expected"]) == "refuted-as-expected"
    assert verdicts.row_verdict("theorem", []) == "skipped"


def test_an_undecided_row_says_what_it_lacked():
    """A row whose status is `inconclusive` shows its inconclusive check's reason, not a held check's error."""
    from iclgd.properties.checks import check, recording

    with recording(frozenset({"Fu-trained-Newton", "M1-trained"})) as log:
        check("M1-trained", "reach", 2, 8, 0, "basin", {"d": 2}, error=0.0, expect="reach")
        check("Fu-trained-Newton", "layer 2: Newton closer than GD", 0.0, -20.0, 3.89, "sign test", {"d": 2},
              error=0.0, inconclusive="the positive control reads GD closer")
    row = {"nodeid": "t.py::t", "claims": ["Fu-trained-Newton", "M1-trained"], "outcome": "passed",
           "counts": log.counts, "flagged": [], "failing": [], "seconds": 1.0, "examples": 1, "error": "",
           "records": [], "worst": {k: c.to_json() for k, c in log.worst.items()},
           "inconclusive": {k: c.to_json() for k, c in log.inconclusive.items()}}
    fu = {c["id"]: c for c in report.summarise([row])}["Fu-trained-Newton"]
    assert fu["status"] == "inconclusive" and fu["worst"]["inconclusive"] == "the positive control reads GD closer"
    assert "inconclusive: the positive control reads GD closer" in report._worst(fu, True)


def test_the_s2_row_comes_with_its_cells():
    """A pattern check's cell (dataset, N, variant, metric, outcome, effect, nulls) reaches the report as
    one table row per cell, under its own claim only."""
    from iclgd.properties.checks import check, recording

    cell = dict(model="smollm2", dataset="sst2", shots=2, seed=0, variant="gd", metric="token_overlap",
                outcome="reverses", effect={"mean": 0.25, "interval": [0.1, 0.4], "level": 0.99},
                nulls={"untrained": False, "random_update": True, "random_labels": None})
    with recording(frozenset({"S2"})) as log:
        check("S2", "token_overlap@10 icl-icl_reordered vs icl-gd", 0.5, 0.75, 5e-8, "sign test", cell, error=0.9,
              expect="pattern")
    row = {"nodeid": "t.py::t", "claims": ["S2"], "outcome": "passed", "counts": log.counts, "flagged": [],
           "failing": [], "worst": {}, "seconds": 1.0, "examples": 1, "error": "", "records": [], "points": log.points}
    claims = {c["id"]: c for c in report.summarise([row])}
    assert [c["cells"] for k, c in claims.items() if k != "S2"] == [[]] * (len(claims) - 1)
    s2, = claims["S2"]["cells"]
    assert s2["verdict"] == "finding" and s2["outcome"] == "reverses" and s2["nulls"]["untrained"] is False
    md = report.markdown({"profile": "ci", "seed": 0, "tiers": ["llm"], "date": "d", "seconds": 1, "tests": 1,
                          "pytest_exit": 0, "exit": 0}, list(claims.values()), [], {})
    line, = [ln for ln in md.splitlines() if ln.startswith("| smollm2 | sst2 | 2 |")]
    assert "reverses" in line and "finding" in line and "+0.250 [+0.100, +0.400]" in line
    assert "untrained **no**" in line and "random_update yes" in line and "random_labels —" in line


def test_cite_words_each_verdict_and_refuses_perturbed(inner, capsys):
    tmp, *_ = inner
    recs = records.load_all(tmp / "recs", perturbed=True)
    m1 = next(r for r in recs if r["claim"] == "M1")
    assert main(["counterexamples", "cite", m1["id"][:10], "--dir", str(tmp / "recs")]) == 2
    assert "perturbed" in capsys.readouterr().err
    for r in recs:
        r = dict(r, perturbed=None)
        assert records.cite(r).startswith(f"**{records.WORDING[r['verdict']]} `{r['id']}`")
    assert main(["counterexamples", "list", "--dir", str(tmp / "recs"), "--perturbed", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_record_ids_ignore_the_measured_numbers():
    a = Check("M1", "gamma", [1.0], [1.1], 0.1, 1e-3, "r", {"d": 1})
    b = Check("M1", "gamma", [1.0], [1.2], 0.2, 1e-3, "another reason", {"d": 1})
    c = Check("M1", "gamma", [1.0], [1.1], 0.1, 1e-3, "r", {"d": 2})
    assert records.record_id(a, "t") == records.record_id(b, "t") != records.record_id(c, "t")
    assert records.record_id(a, "t") != records.record_id(a, "u")


def test_falsifying_example_from_either_hypothesis_wording():
    new = "E       Failing test case: test_x(\nE           x=10,\nE       )\nE       \nE       You can reproduce"
    old = "Falsifying example: test_x(\n    x=10,\n)\n\n"
    assert "x=10" in records.falsifying_example(new) and "x=10" in records.falsifying_example(old)
    assert records.falsifying_example("no example here") is None


def _good(tmp_path, i=0):
    rec = {"id": f"M1-{i:012x}", "claim": "M1", "verdict": "refuted", "quantity": "q", "error": 1.0,
           "tolerance": 0.1, "date": "2026-01-01T00:00:00+00:00", "citation": {}, "inputs": {}}
    (tmp_path / f"{rec['id']}.json").write_text(json.dumps(rec))
    return rec


def test_corrupt_records_are_skipped_with_one_warning(tmp_path, capsys):
    good = _good(tmp_path)
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "trunc.json").write_text('{"id": "M1-')
    (tmp_path / "nokeys.json").write_text('{"id": "x"}')
    (tmp_path / ".tmp-abc.json").write_text("{")
    assert main(["counterexamples", "list", "--dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert good["id"] in out and "M1 — refuted (1)" in out
    assert len(err.strip().splitlines()) == 3 and all("skipping unreadable record" in ln for ln in err.splitlines())
    assert ".tmp-abc" not in err


@pytest.mark.parametrize("rid", ["*", "../../x", "M1-*", "a/b", "", "..", "M1-[0-9]"])
def test_record_ids_are_never_globs_or_paths(tmp_path, capsys, rid):
    _good(tmp_path)
    assert main(["counterexamples", "show", rid, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("iclgd counterexamples: error: ID")


def test_records_folder_env_is_honoured_by_list(tmp_path, capsys, monkeypatch):
    _good(tmp_path, 7)
    monkeypatch.setenv("ICLGD_COUNTEREXAMPLES_DIR", str(tmp_path))
    assert main(["counterexamples", "show", "M1-0000"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "M1-000000000007"


def test_closed_pipe_ends_quietly(tmp_path):
    for i in range(400):
        _good(tmp_path, i)
    cmd = (f"{sys.executable} -m iclgd.cli counterexamples list --json --dir {tmp_path} | head -1")
    p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr


def test_each_test_lands_in_exactly_one_tier_and_the_report_agrees():
    """`iclgd verify --tiers`' marker expressions and the report's tier of a test come from one table: for every
    combination of tier markers, exactly the expression of the report's tier selects the test."""
    import itertools

    from iclgd.commands.verify import TIERS
    from iclgd.properties.tiers import TIER_MARKERS, tier_of

    names = [m for m, _ in TIER_MARKERS]
    for bits in itertools.product([False, True], repeat=len(names)):
        marks = [m for m, b in zip(names, bits) if b]
        selected = [t for t, expr in TIERS.items() if eval(expr, {}, dict(zip(names, bits)))]  # pytest -m syntax
        assert selected == [tier_of(marks)], (marks, selected)


def test_verdict_exit_codes():
    row = lambda s, k="theorem": {"status": s, "kind": k}  # noqa: E731
    assert verdicts.exit_code([row("held"), row("refuted-as-expected", "overgeneralisation")]) == 0
    assert verdicts.exit_code([row("refuted")]) == 1
    assert verdicts.exit_code([row("held", "overgeneralisation")]) == 1  # an expected refutation not found
    assert verdicts.exit_code([row("finding", "empirical"), row("inconclusive")]) == 0
    assert verdicts.exit_code([row("finding", "empirical")], strict=True) == 1
    assert verdicts.exit_code([row("not-reached", "overgeneralisation")], strict=True) == 0


# ---- iclgd verify on a small inner suite --------------------------------------------------------
VERIFY_SUITE = textwrap.dedent('''
    import pytest
    from iclgd.properties.checks import check

    @pytest.mark.claim("M1")
    def test_m1_holds():
        check("M1", "eta", 0.5, 0.5, 0.0, "exact", dict(d=1))

    @pytest.mark.claim("softmax-1L")
    def test_softmax_refuted():
        check("softmax-1L", "loss = L*", 0.0, 1.0, 1e-9, "exact", dict(d=1), expect="refute")
''')


@pytest.fixture
def suite(tmp_path):
    tests = tmp_path / "suite" / "tests"
    tests.mkdir(parents=True)
    (tests / "conftest.py").write_text('pytest_plugins = ["iclgd.properties.harness"]\n')
    (tests / "test_v.py").write_text(VERIFY_SUITE)
    return tests


def _verify(capsys, suite, out, *argv):
    try:
        rc = main(["verify", "--suite", str(suite), "--out", str(out), "--workers", "0", "--records",
                   str(suite.parent / "recs"), "--json", *argv])
    except SystemExit as e:  # argparse's own errors (exit 2 after its usage line)
        rc = e.code
    return rc, capsys.readouterr()


def test_verify_end_to_end_and_replaces_only_its_own_folder(capsys, suite, tmp_path):
    out = tmp_path / "report"
    rc, cap = _verify(capsys, suite, out)
    doc = json.loads(cap.out)
    assert rc == 0 and doc["exit"] == 0 and doc["seed"].startswith("derandomized")
    status = {c["id"]: c["status"] for c in doc["claims"]}
    assert status["M1"] == "held" and status["softmax-1L"] == "refuted-as-expected" and status["M2"] == "skipped"
    assert (out / ".iclgd-report").exists() and (out / "report.md").exists()
    assert {"risk_vs_test_length.png", "risk_vs_n_baselines.png"} <= set(doc["figures"])
    rc, cap = _verify(capsys, suite, out, "-k", "(((")  # pytest usage error: exit 4, old report kept
    assert rc == 4 and (out / "report.md").exists() and cap.err.strip().splitlines()[-1].startswith("iclgd verify: error")
    rc, cap = _verify(capsys, suite, out, "-k", "zzz")  # nothing ran: exit 3, old report kept
    assert rc == 3 and (out / "report.md").exists()
    rc, cap = _verify(capsys, suite, out, "-k", "m1")  # the over-generalisation not exercised: skipped, exit 0
    assert rc == 0
    rc, cap = _verify(capsys, suite, out, "--claims", "M1", "--strict")
    assert rc == 0 and [c["id"] for c in json.loads(cap.out)["claims"]] == ["M1"]
    rc, cap = _verify(capsys, suite, out, "--profile", "quick")  # the claims' tiers at quick sizes, no llm tier
    doc = json.loads(cap.out)
    assert rc == 0 and doc["profile"] == "quick" and doc["tiers"] == ["theory"]
    assert any("not tooling" in a for a in doc["command"]) and not any(a == "tooling" for a in doc["command"])


def test_verify_refuses_folders_it_does_not_own(capsys, suite, tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    monkeypatch.chdir(tmp_path)
    for out in (str(mine), "", ".", "~", "/"):
        rc, cap = _verify(capsys, suite, out)
        assert rc == 2 and "--out" in cap.err.strip().splitlines()[-1], (out, cap.err)
    assert (mine / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("argv, flag", [
    (["--tiers", "theory,bogus"], "--tiers"), (["--profile", "weekly"], "--profile"),
    (["--workers", "many"], "--workers"), (["--model", "/no/such/model"], "--model"),
    (["--perturb", "M1=0.1"], "--perturb"), (["--perturb", "ZZ:0.05"], "--perturb"),
    (["--perturb", "m1:0.05"], "--perturb"), (["--perturb", "M1:nan"], "--perturb"),
    (["--perturb", "S2:0.1"], "--perturb"), (["--suite", "/no/such/tests"], "--suite"),
    (["--claims", "M9"], "--claims"), (["--seed", "-3"], "--seed"), (["--seed", "1", "--fresh"], "--seed"),
])
def test_verify_bad_input(capsys, tmp_path, argv, flag):
    assert main(["verify", "--out", str(tmp_path / "r"), *argv]) == 2
    assert flag in capsys.readouterr().err.strip().splitlines()[-1]


# ---- sharded runs through submitit (its local executor: no Slurm here) --------------------------
def test_submitit_launcher_merges_shards_like_a_local_run(capsys, suite, tmp_path):
    (suite / "test_w.py").write_text(VERIFY_SUITE.replace("def test_", "def test_w_"))
    rc, cap = _verify(capsys, suite, tmp_path / "local", "--tiers", "theory")
    local = {c["id"]: (c["status"], c["counts"]) for c in json.loads(cap.out)["claims"]}
    rc2, cap = _verify(capsys, suite, tmp_path / "sharded", "--launcher", "submitit", "--shards", "3",
                       "--cluster", "local", "--work", str(tmp_path / "work"), "--tiers", "theory")
    doc = json.loads(cap.out)
    assert rc == rc2 == 0 and {c["id"]: (c["status"], c["counts"]) for c in doc["claims"]} == local
    assert sorted(s["shard"] for s in doc["shards"]) == [f"theory-{k}of3" for k in range(3)]
    assert all(s["rc"] in (0, 5) for s in doc["shards"]) and doc["tests"] == 4
    assert not (tmp_path / "work").exists()  # merged: the work folder is gone


def test_submitit_resume_reruns_only_unfinished_shards(capsys, suite, tmp_path):
    from iclgd.commands.verify import run_shard  # noqa: F401  (the job function must be importable)

    work = tmp_path / "work"
    argv = ("--launcher", "submitit", "--shards", "1", "--cluster", "local", "--work", str(work), "--tiers",
            "theory,trained")
    rc, cap = _verify(capsys, suite, tmp_path / "r", *argv)
    assert rc == 0  # the trained tier of this suite is empty: its shard exits 5 (no tests), not an error
    first = json.loads(cap.out)
    # pretend the run was interrupted after the (empty) trained shard: only the theory one reruns
    for s in first["shards"][1:]:
        (work / s["shard"]).mkdir(parents=True, exist_ok=True)
        (work / s["shard"] / "done.json").write_text(json.dumps({"shard": s["shard"], "rc": 5, "seconds": 0}))
    rc, cap = _verify(capsys, suite, tmp_path / "r", *argv, "--resume")
    resumed = {s["shard"]: s["resumed"] for s in json.loads(cap.out)["shards"]}
    assert rc == 0 and len(resumed) == 2
    assert [k for k, v in resumed.items() if v] == ["trained-0of1"]


@pytest.mark.parametrize("argv, flag", [
    (["--launcher", "slurmish"], "--launcher"), (["--launcher", "submitit", "--shards", "0"], "--shards"),
    (["--launcher", "submitit", "--shards", "x"], "--shards"), (["--shards", "2"], "--launcher"),
    (["--example-db", "/proc/forbidden/db"], "--example-db"),
])
def test_launcher_bad_input(capsys, suite, tmp_path, argv, flag):
    rc, cap = _verify(capsys, suite, tmp_path / "r", *argv)
    assert rc == 2 and flag in cap.err.strip().splitlines()[-1], cap.err


def test_verify_honours_the_records_folder_setting(capsys, suite, tmp_path, monkeypatch):
    monkeypatch.setenv("ICLGD_COUNTEREXAMPLES_DIR", str(tmp_path / "env-recs"))
    rc = main(["verify", "--suite", str(suite), "--out", str(tmp_path / "r"), "--workers", "0", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["records_dir"] == str(tmp_path / "env-recs")
    assert [r["claim"] for r in records.load_all()] == ["softmax-1L"]  # found there by `list` too


def test_a_second_concurrent_verify_is_locked_out(capsys, suite, tmp_path):
    import fcntl

    out = tmp_path / "r"
    with open(tmp_path / ".r.lock", "w") as held:  # another run holds the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc, cap = _verify(capsys, suite, out)
    assert rc == 2 and "another `iclgd verify`" in cap.err.strip().splitlines()[-1] and not out.exists()
