"""`iclgd counterexamples list | show ID | cite ID | replay ID` — browse, cite and replay records.

`replay` reruns a record's exact case (its Hypothesis blob, profile and perturbation) and exits 0
when the record comes back (still fails), 1 when it does not, 2 for a bad or unknown id.

The records folder is ``--dir``, else ``$ICLGD_COUNTEREXAMPLES_DIR``, else .iclgd/counterexamples
(the same rule as `iclgd verify --records`). Records of deliberately perturbed runs live in its
``perturbed/`` sub-folder: `list --perturbed` shows them, `cite` refuses them.
"""
from __future__ import annotations

import json
from itertools import groupby

from iclgd.cli import UsageError

FIELDS = ("id", "claim", "verdict", "quantity", "error", "tolerance", "test", "date")


def add_parser(sub):
    p = sub.add_parser("counterexamples", help="list, show and cite counterexample records")
    p.add_argument("action", choices=("list", "show", "cite", "replay"))
    p.add_argument("id", nargs="?", help="record id (a unique prefix is enough)")
    p.add_argument("--dir", help="records folder (default: $ICLGD_COUNTEREXAMPLES_DIR or .iclgd/counterexamples)")
    p.add_argument("--perturbed", action="store_true", help="list: the records of deliberately perturbed runs")
    p.add_argument("--suite", help="replay: the repository's tests/ folder (default: next to the installed package)")
    p.add_argument("--json", action="store_true")
    return p


def _num(x) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) else str(x)


def run(args) -> int:
    from iclgd.properties import records

    if args.action == "list":
        rows = records.load_all(args.dir, perturbed=args.perturbed)
        rows.sort(key=lambda r: (str(r["claim"]), str(r["verdict"]), str(r["date"])))
        if args.json:
            print(json.dumps([{k: r.get(k) for k in FIELDS} for r in rows], indent=2, allow_nan=False, default=str))
            return 0
        if not rows:
            print(f"no counterexample records in {records.records_dir(args.dir)}")
        for (claim, verdict), group in groupby(rows, key=lambda r: (r["claim"], r["verdict"])):
            group = list(group)
            print(f"{claim} — {verdict} ({len(group)})")
            for r in group:
                print(f"  {r['id']:24} {str(r['quantity'])[:40]:40} error {_num(r['error'])} "
                      f"(tol {_num(r['tolerance'])})  {str(r['date'])[:10]}  {str(r.get('test', ''))[:60]}")
        return 0
    if not args.id:
        raise UsageError(f"ID: `counterexamples {args.action}` needs a record id")
    try:
        rec = records.load(args.id, args.dir)
        if args.action == "show":
            print(json.dumps(rec, indent=2, allow_nan=False, default=str))
            return 0
        if args.action == "replay":
            return _replay(rec, args)
        text = records.cite(rec)
    except records.RecordError as e:
        raise UsageError(str(e)) from None
    print(json.dumps({"id": rec["id"], "text": text}) if args.json else text)
    return 0


def _replay(rec: dict, args) -> int:
    from pathlib import Path

    from iclgd.properties import records

    if rec.get("source") == "iclgd check":  # a model checked from the command line, not a test of a suite
        raise UsageError(f"ID: {rec['id']} was written by `iclgd check`; reproduce it with `{rec['reproduce']}`")
    suite = Path(args.suite) if args.suite else Path(__file__).resolve().parents[2] / "tests"
    if not suite.is_dir():
        raise UsageError(f"--suite: tests folder {suite} does not exist")
    out = records.replay(rec, suite)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        state = "still fails: the same record came back" if out["still_fails"] else "does not reproduce"
        print(f"{rec['id']} ({rec['claim']}, {rec['verdict']}): {state} (pytest exit {out['pytest_exit']}; "
              f"{out['summary']})")
    return 0 if out["still_fails"] else 1
