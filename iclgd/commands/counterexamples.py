"""`iclgd counterexamples list | show ID | cite ID` — browse and cite counterexample records."""
from __future__ import annotations

import json

from iclgd.cli import UsageError


def add_parser(sub):
    p = sub.add_parser("counterexamples", help="list, show and cite counterexample records")
    p.add_argument("action", choices=("list", "show", "cite"))
    p.add_argument("id", nargs="?", help="record id (a unique prefix is enough)")
    p.add_argument("--dir", help="records folder (default: $ICLGD_COUNTEREXAMPLES_DIR or .iclgd/counterexamples)")
    p.add_argument("--json", action="store_true")
    return p


def run(args) -> int:
    from iclgd.properties import records

    if args.action == "list":
        rows = records.load_all(args.dir)
        if args.json:
            print(json.dumps([{k: r[k] for k in ("id", "claim", "verdict", "quantity", "error", "tolerance", "date")}
                              for r in rows], indent=2))
            return 0
        if not rows:
            print(f"no counterexample records in {args.dir or records.records_dir()}")
        for r in rows:
            print(f"{r['id']:22} {r['verdict']:20} {r['quantity'][:36]:36} error {r['error']:.3g} "
                  f"(tol {r['tolerance']:.3g})  {r['date'][:10]}")
        return 0
    if not args.id:
        raise UsageError(f"ID: `counterexamples {args.action}` needs a record id")
    try:
        rec = records.load(args.id, args.dir)
    except KeyError as e:
        raise UsageError(str(e).strip("'\"")) from None
    if args.action == "show":
        print(json.dumps(rec, indent=2))
    else:
        print(json.dumps({"id": rec["id"], "text": records.cite(rec)}) if args.json else records.cite(rec))
    return 0
