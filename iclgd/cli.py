"""`iclgd` command line. Bad input exits 2 with one line naming the parameter, never a traceback."""
from __future__ import annotations

import argparse
import importlib
import json
import sys

from .commands import COMMANDS


class UsageError(Exception):
    """Bad command-line input; the message names the parameter."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's usage block first is fine)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _available(only=None):
    for name in COMMANDS if only is None else (only,):
        try:
            yield name, importlib.import_module(f"iclgd.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"iclgd.commands.{name}":
                raise


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; ``only``: just that subcommand's (what ``main`` builds when the command line names
    one, so a command never pays for the other commands' imports)."""
    parser = _Parser(prog="iclgd", description="Verify claims about in-context learning.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, mod in _available(only):
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run, _parser=p)
    return parser


def main(argv=None) -> int:
    from iclgd.theory.errors import SettingError

    argv = sys.argv[1:] if argv is None else list(argv)
    named = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(named)
    args = parser.parse_args(argv)
    if getattr(args, "claim", "") is None:  # --claim not given: the registry's first claim
        from iclgd.theory import REGISTRY

        args.claim = next(iter(REGISTRY))
    try:
        return int(args._run(args) or 0)
    except SettingError as e:  # name the flag the user typed
        flag = e.param if e.param.startswith("-") else "--" + e.param.replace("_", "-")
        return _fail(args, f"{flag}: {e.message}")
    except UsageError as e:
        return _fail(args, str(e))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `iclgd … | head -1`: the reader left; end quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _fail(args, message: str) -> int:
    args._parser.print_usage(sys.stderr)
    print(f"{args._parser.prog}: error: {message}", file=sys.stderr)
    return 2


def emit(obj, as_json: bool, human) -> None:
    """Print ``obj`` as JSON, or call ``human(obj)`` for the terminal form."""
    if as_json:
        print(json.dumps(obj, indent=2))
    else:
        human(obj)


if __name__ == "__main__":
    sys.exit(main())
