"""Counterexamples that replay anywhere, offline: a failure found by a CI-style run is saved in a
directory example database (Hypothesis's own mechanism), replayed by the developer profile through
``ICLGD_SHARED_DB`` (a local folder standing in for the downloaded CI artifact), and rerun on its
exact case by `iclgd counterexamples replay`."""
import os
import subprocess
import sys
import textwrap

import pytest

from iclgd.cli import main
from iclgd.properties import records

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)

RARE = textwrap.dedent('''
    import os
    import pytest
    from hypothesis import Phase, given, settings, strategies as st
    from iclgd.properties.checks import check

    @pytest.mark.claim("M1")
    # INNER_N=0: generate nothing, only replay what the example database holds
    @settings(max_examples=max(1, int(os.environ["INNER_N"])),
              phases=(Phase.reuse,) if os.environ["INNER_N"] == "0" else tuple(Phase))
    @given(x=st.integers(0, 10**6))
    def test_rare(x):
        """Fails on 1 input in 97: found by a long CI run, almost never by one developer example."""
        c = check("M1", "a rare failure", 0.0, float(x % 97 == 13), 0.5, "seeded bug", dict(x=x))
        assert c.holds, c.summary()
''')
CONFTEST = ('from iclgd.properties.profile import register_profiles\n'
            'register_profiles()\n'
            'pytest_plugins = ["iclgd.properties.harness"]\n')


def _run(proj, **env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICLGD_", "PYTEST_XDIST"))}
    env.update(ICLGD_COUNTEREXAMPLES_DIR=str(proj / "recs"), **env_extra)
    return subprocess.run([sys.executable, "-m", "pytest", "tests", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
                           "--rootdir", str(proj)], cwd=proj, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = tmp_path_factory.mktemp("proj")
    (proj / "tests").mkdir()
    (proj / "tests" / "conftest.py").write_text(CONFTEST)
    (proj / "tests" / "test_inner.py").write_text(RARE)
    ci = _run(proj, ICLGD_PROFILE="ci", INNER_N="3000", ICLGD_EXAMPLE_DB=str(proj / "ci-db"))
    return proj, ci


def test_ci_run_finds_and_saves_the_failure(project):
    proj, ci = project
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert any((proj / "ci-db").rglob("*")), "the CI-style run left no example database"
    (rec,) = records.load_all(proj / "recs")
    assert rec["inputs"]["x"] % 97 == 13 and rec["verdict"] == "refuted" and rec["hypothesis_blob"]


def test_developer_profile_replays_the_shared_database(project):
    proj, _ = project
    seeded = dict(ICLGD_PROFILE="dev", INNER_N="0")  # replay only: nothing new is generated
    alone = _run(proj, ICLGD_EXAMPLE_DB=str(proj / "dev-db-1"), **seeded)
    assert alone.returncode == 0, alone.stdout  # its own empty database holds nothing to replay
    shared = _run(proj, ICLGD_EXAMPLE_DB=str(proj / "dev-db-2"), ICLGD_SHARED_DB=str(proj / "ci-db"), **seeded)
    (rec,) = records.load_all(proj / "recs")
    assert shared.returncode == 1 and f"x={rec['inputs']['x']}" in shared.stdout, shared.stdout


def test_counterexamples_replay_reruns_the_exact_case(project, capsys, monkeypatch):
    proj, _ = project
    monkeypatch.setenv("INNER_N", "1")
    (rec,) = records.load_all(proj / "recs")
    argv = ["counterexamples", "replay", rec["id"], "--dir", str(proj / "recs"), "--suite", str(proj / "tests")]
    assert main(argv) == 0 and "still fails" in capsys.readouterr().out
    fixed = proj / "fixed"
    (fixed / "tests").mkdir(parents=True)
    (fixed / "tests" / "conftest.py").write_text(CONFTEST)
    (fixed / "tests" / "test_inner.py").write_text(RARE.replace("x % 97 == 13", "x < 0"))
    argv[-1] = str(fixed / "tests")
    assert main(argv) == 1 and "does not reproduce" in capsys.readouterr().out


def test_replay_bad_input(tmp_path, capsys):
    assert main(["counterexamples", "replay", "M1-000000000000", "--dir", str(tmp_path)]) == 2
    assert "ID: no record" in capsys.readouterr().err
    assert main(["counterexamples", "replay", "../x", "--dir", str(tmp_path)]) == 2
