"""`iclgd predict` for the ridge-family claims under hostile flags: finite output or exit 2 with one error line
naming a flag, never a traceback (the issue's rule for new flags)."""
from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.common.cli import predict_cli

CLAIMS = ("Bayes-ridge", "Nakkiran-monotone", "BHX-minnorm", "Hastie-ridgeless", "DW-optridge", "Wu-near-Bayes")
VALUES = st.sampled_from(["0", "1", "2", "3", "0.5", "1e-300", "1e300", "1e6", "-1", "nan", "inf", "1.0000001", "x"])
FLAGS = ("--sigma2", "--prior-scale", "--r2", "--gamma", "--p")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim=st.sampled_from(CLAIMS), d=st.sampled_from(["1", "2", "3", "9", "1000"]),
       n=st.sampled_from(["1", "2", "5", "9", "100000"]),
       flags=st.lists(st.tuples(st.sampled_from(FLAGS), VALUES), max_size=4, unique_by=lambda t: t[0]))
def test_predict_is_finite_or_refuses_naming_a_flag(claim, d, n, flags):
    code, out, err = predict_cli(claim, "--d", d, "--n", n, *[v for f in flags for v in f], "--json")
    assert "Traceback" not in err
    if code == 2:
        last = err.strip().splitlines()[-1]
        assert last.startswith("iclgd predict: error:") and "--" in last, err
        return
    assert code == 0, err
    for key, v in json.loads(out).items():
        assert not (isinstance(v, float) and not math.isfinite(v)), (key, v)
