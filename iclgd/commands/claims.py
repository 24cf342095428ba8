"""`iclgd claims`: every registered claim with its paper, tag and kind (from `iclgd.theory.REGISTRY`)."""
from __future__ import annotations

from iclgd.cli import emit
from iclgd.theory import REGISTRY

KINDS = ("theorem", "overgeneralisation", "empirical", "identity")  # = iclgd.properties.verdicts.KINDS


def add_parser(sub):
    p = sub.add_parser("claims", help="list the registered claims",
                       description="List every registered claim: id, paper, tag ([paper]/[derived]/[peer]), kind, "
                       "and whether `iclgd predict` answers it with a number.")
    p.add_argument("--kind", choices=KINDS, help="only claims of this kind")
    p.add_argument("--long", action="store_true", help="also print each statement and its assumptions")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def claims_json(kind: str | None = None) -> list[dict]:
    out = []
    for c in REGISTRY.values():
        if kind and c.kind != kind:
            continue
        out.append({"id": c.id, "paper": c.citation.short(), "title": c.citation.title, "venue": c.citation.venue,
                    "year": c.citation.year, "url": c.citation.url, "tag": c.tag, "kind": c.kind,
                    "predicts": c.predict_fn is not None, "statement": c.statement,
                    "assumptions": list(c.assumptions), "package": c.package,
                    "parts": [p.to_json() for p in c.parts],
                    "params": [{"flag": p.flag, "help": p.help} for p in c.params]})
    return out


def run(args) -> int:
    rows = claims_json(args.kind)
    emit(rows, args.json, lambda r: _human(r, args.long))
    return 0


def _human(rows: list[dict], long: bool) -> None:
    w_id = max((len(r["id"]) for r in rows), default=2)
    for r in rows:
        pred = "predict" if r["predicts"] else "       "
        print(f"{r['id']:<{w_id}}  {r['tag']:<9}  {r['kind']:<18}  {pred}  {r['package']:<12}  {r['paper']}")
        if long:
            print(f"    {r['statement']}")
            for part in r["parts"]:
                print(f"    [{part['source']}{' ' + part['where'] if part['where'] else ''}] {part['text']}")
            for prm in r["params"]:
                print(f"    {prm['flag']}: {prm['help']}")
            for a in r["assumptions"]:
                print(f"    - {a}")
