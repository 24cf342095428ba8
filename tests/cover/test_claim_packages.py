"""Claims from other packages (entry-point groups ``iclgd.claims`` and ``iclgd.checks``): the example
package installs with pip, is listed with its package, and `iclgd verify --claims` holds its correct
claim and refutes its wrong one with a record; broken or conflicting packages are named in one warning
line each and left out, every other claim still runs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "iclgd-example-claim"
BIN = Path(sys.executable).parent
OK, WRONG = "Example-null-risk", "Example-null-risk-wrong"


def _run(args, path: Path, **kw):
    env = {**os.environ, "PYTHONPATH": str(path), "ICLGD_PERTURB": ""}
    env.pop("ICLGD_RESULTS_DIR", None)
    return subprocess.run([str(BIN / "iclgd"), *args], env=env, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The example package installed by pip into a folder of its own (never into the suite's venv, so
    its deliberately wrong claim never enters another run)."""
    import shutil

    source = tmp_path_factory.mktemp("src") / EXAMPLE.name  # pip builds in place: keep build/ out of the repository
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    return target


def test_example_claims_are_listed_with_their_package(example):
    r = _run(["claims", "--json"], example)
    assert r.returncode == 0, r.stderr
    rows = {c["id"]: c for c in json.loads(r.stdout)}
    assert rows[OK]["package"] == rows[WRONG]["package"] == "iclgd-example-claim"
    assert rows["M1"]["package"] == "iclgd"
    assert rows[OK]["parts"][0]["source"] == "paper"


def test_predict_takes_another_packages_claim(example):
    r = _run(["predict", "--claim", OK, "--d", "2", "--n", "1", "--sigma2", "0.5", "--cov", "[[2,0],[0,1]]", "--json"],
             example)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["loss"] == pytest.approx(3.5, rel=1e-12)  # tr(Σ I) + σ² = 3 + 0.5


def test_verify_holds_the_correct_claim_and_refutes_the_wrong_one_with_a_record(example, tmp_path):
    r = _run(["verify", "--claims", f"{OK},{WRONG}", "--tiers", "theory", "--workers", "0", "--out", str(tmp_path / "report"),
              "--records", str(tmp_path / "records"), "--json"], example, cwd=ROOT)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]  # 1: a claim was refuted
    rows = {row["id"]: row for row in json.loads((tmp_path / "report" / "report.json").read_text())["claims"]}
    assert rows[OK]["status"] == "held"
    assert rows[WRONG]["status"] == "refuted"
    assert rows[WRONG]["records"] and all(i.startswith(WRONG + "-") for i in rows[WRONG]["records"])
    rec = json.loads((tmp_path / "records" / f"{rows[WRONG]['records'][0]}.json").read_text())
    assert rec["claim"] == WRONG and rec["verdict"] == "refuted"


def _fake_package(site: Path, name: str, module: str, source: str, entry_points: str) -> None:
    """A minimal installed distribution: its module and a .dist-info with METADATA and entry points."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


BROKEN = {
    "iclgd-broken-import": ("raise ImportError('no module named scipy_missing')\nCLAIMS = []\n",
                            "[iclgd.claims]\nx = bad_import:CLAIMS\n"),
    "iclgd-not-a-claim": ("CLAIMS = ['M9']\n", "[iclgd.claims]\nx = not_a_claim:CLAIMS\n"),
    "iclgd-taken-id": ("from iclgd.theory import get_claim\nfrom dataclasses import replace\n"
                       "CLAIMS = [replace(get_claim('M1'), package='iclgd')]\n", "[iclgd.claims]\nx = taken_id:CLAIMS\n"),
    "iclgd-bad-spec": ("SPECS = [object()]\n", "[iclgd.checks]\nx = bad_spec:SPECS\n"),
}


def test_broken_packages_are_named_in_one_warning_line_each_and_left_out(example, tmp_path):
    import shutil

    site = tmp_path / "site"
    shutil.copytree(example, site)
    modules = {"iclgd-broken-import": "bad_import", "iclgd-not-a-claim": "not_a_claim", "iclgd-taken-id": "taken_id",
               "iclgd-bad-spec": "bad_spec"}
    for name, (src, eps) in BROKEN.items():
        _fake_package(site, name, modules[name], src, eps)
    r = _run(["claims", "--json"], site)
    assert r.returncode == 0, r.stderr
    ids = {c["id"]: c["package"] for c in json.loads(r.stdout)}
    assert ids["M1"] == "iclgd" and ids[OK] == "iclgd-example-claim" and "M9" not in ids
    warned = [line for line in r.stderr.splitlines() if line.startswith("iclgd: warning:")]
    assert len(warned) == 3 and all(any(p in w for w in warned) for p in list(BROKEN)[:3]), r.stderr
    # the checks group is read by the drivers: the bad Spec is named, the example's Specs still load
    code = "from iclgd.properties import spec; print(sorted(spec.load()))"
    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(site)},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert OK in p.stdout and WRONG in p.stdout
    assert sum("iclgd-bad-spec" in line for line in p.stderr.splitlines()) == 1, p.stderr
