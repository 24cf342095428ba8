"""iclgd's pytest plugin, registered by ``pip install iclgd`` (entry point ``pytest11``: ``iclgd``).

In any repository, with nothing copied:

- ``@pytest.mark.claim("M1")`` — the registered claim a test speaks for: its checks become evidence,
  failing cases become counterexample records, and ``iclgd verify --suite tests/`` reports them;
- ``check_model`` (fixture) — ``check_model(model, d=5, n=20, sigma2=0.5)`` checks a model (a callable
  ``f(X, y, x_q) -> y_hat``, an ``nn.Module``, or a spec string as for ``iclgd check --model``) against
  the test's claim and returns a :class:`~iclgd.properties.model_check.ModelReport`
  (``report.ok``, ``report.verdict``, ``report.summary()``); its checks are recorded;
- ``claim_checks`` (fixture) — the check recorder: ``claim_checks.check(claim, quantity, predicted,
  measured, tolerance, reason, setting)`` records a :class:`~iclgd.properties.checks.Check` for the test;
- the public strategies and helpers, in :mod:`iclgd.testing`.

It changes nothing in a run that does not use it: no header line, no output, no Hypothesis profile; the
harness (:mod:`iclgd.properties.harness`) adds the ``claim`` marker and opt-in options (``--claim``,
``--iclgd-shard``, ``--iclgd-replay``), reads the claim registry only when a test carries a ``claim``
marker or ``--claim`` is given, and writes files only for tests that declare a claim (records) or when
``ICLGD_RESULTS_DIR`` is set (``iclgd verify``). Disable it with ``-p no:iclgd``.
"""
from __future__ import annotations

import pytest

# the harness registers once, under its module name, whether this entry point or the repository's own
# conftest.py (`pytest_plugins = ["iclgd.properties.harness"]`) asks first
pytest_plugins = ["iclgd.properties.harness"]


class ClaimChecks:
    """The check recorder of one test: every Check made through it is the test's evidence (and a
    record when its verdict is one that records: refuted, not-reached, …)."""

    def __init__(self):
        self.checks = []

    def check(self, claim, quantity, predicted, measured, tolerance, reason, setting=None, **kw):
        """Compare and record (:func:`iclgd.properties.checks.check`); returns the Check."""
        from iclgd.properties.checks import check

        c = check(claim, quantity, predicted, measured, tolerance, reason, setting, **kw)
        self.checks.append(c)
        return c

    def record(self, c):
        """Record a Check built elsewhere (e.g. a ModelReport's)."""
        from iclgd.properties.checks import record

        self.checks.append(record(c))
        return c


@pytest.fixture
def claim_checks() -> ClaimChecks:
    """The check recorder for this test (see :class:`ClaimChecks`)."""
    return ClaimChecks()


@pytest.fixture
def check_model(request, claim_checks):
    """``check_model(model, claim=None, *, d, n, sigma2=0.0, device="cpu", prompts=..., seed=0, ...)``:
    check ``model`` against ``claim`` (default: the test's single ``@pytest.mark.claim``) and record the
    checks. ``n`` may be an int or a list of context lengths; other keywords are Setting fields (``cov``,
    ``cov_w``, ``target``, ``x_dist``, ``mean``, …) or :func:`iclgd.testing.check_model`'s options."""
    from iclgd.properties.harness import owned_claims
    from iclgd.testing import check_model as run

    def checker(model, claim=None, **kw):
        owned = sorted(owned_claims(request.node))
        if claim is None:
            if len(owned) != 1:
                raise pytest.UsageError(f"check_model: name the claim (the test declares {owned or 'no'} claim "
                                        "marker; use @pytest.mark.claim(ID) or check_model(model, 'ID', ...))")
            claim = owned[0]
        report = run(model, claim, **kw)
        for c in report.checks:
            claim_checks.record(c)
        return report

    return checker
