"""Run the CLI in this process (no interpreter start-up per call): ``cli(*argv)``, ``predict_cli(claim, *args)``."""
from __future__ import annotations

import contextlib
import io


def cli(*argv) -> tuple[int, str, str]:
    """``iclgd ARGV`` in this process: (exit code, stdout, stderr)."""
    from iclgd.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's own refusals
            code = e.code
    return code, out.getvalue(), err.getvalue()


def predict_cli(claim: str, *args) -> tuple[int, str, str]:
    """``iclgd predict --claim CLAIM ARGS`` in this process."""
    return cli("predict", "--claim", claim, *args)
