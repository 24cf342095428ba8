"""Subcommands of the `iclgd` CLI: each module defines ``add_parser(subparsers)`` and ``run(args)``.

They parse into the same Settings and call the same functions the tests call; no logic lives here.
"""
COMMANDS = ("predict", "train", "probe", "verify", "counterexamples", "claims", "check")
