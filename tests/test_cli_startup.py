"""The CLI starts without the heavy stack: the commands a user runs most (`claims`, `predict`,
`counterexamples list`, `--help` and a subcommand's) never import torch, transformers or matplotlib — only the
commands that use them do (`train`, `probe`, `verify`'s pytest run). Checked by what a fresh interpreter
has imported after the command, not by a timed test (timings on a shared machine prove nothing).
"""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)

HEAVY = ("torch", "transformers", "matplotlib")

PROBE = """
import json, sys
from iclgd.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as e:  # --help
    rc = e.code
print(json.dumps({"rc": rc, "loaded": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def _loaded(tmp_path, *argv) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=300,
                         env={"ICLGD_COUNTEREXAMPLES_DIR": str(tmp_path / "records"), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["claims"],
    ["claims", "--json"],
    ["predict", "--claim", "M1", "--d", "5", "--n", "20", "--sigma2", "0.5", "--json"],
    ["counterexamples", "list"],
    ["predict", "--help"],
    ["probe", "--help"],
    ["train", "--help"],
    ["verify", "--help"],
], ids=lambda a: " ".join(a))
def test_light_commands_import_no_heavy_stack(tmp_path, argv):
    got = _loaded(tmp_path, *argv)
    assert got["rc"] == 0 and got["loaded"] == [], got


def test_the_probe_really_sees_heavy_imports(tmp_path):
    """The check above can fail: a command that uses torch shows it (a bad --device is refused after torch
    parsed it, exit 2)."""
    got = _loaded(tmp_path, "train", "--claim", "M1", "--d", "2", "--n", "4", "--sigma2", "0.5", "--device", "nope")
    assert got["rc"] == 2 and "torch" in got["loaded"], got
