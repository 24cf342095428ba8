"""One module per paper: its claims (statement parts tagged by source, assumptions, closed forms,
derivations, validators, the CLI's rules). Every module here is imported by :mod:`iclgd.theory`, so a
new paper's claims need no edit elsewhere; its checks live beside it in ``properties/papers``."""
