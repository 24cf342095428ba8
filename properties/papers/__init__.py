"""One module per paper: the :class:`~iclgd.properties.spec.Spec` of each of its claims (settings
strategy, exact and Monte Carlo checks, refutations, trained hooks), beside ``theory/papers``. Every
module here is imported by :func:`iclgd.properties.spec.load`; the drivers loop over the Specs."""
