"""Two claims about the zero predictor ŷ = 0, registered with iclgd through entry points: one correct
(``Example-null-risk``) and one deliberately wrong (``Example-null-risk-wrong``: it forgets the label
noise), so that ``iclgd verify --claims Example-null-risk,Example-null-risk-wrong`` shows ``held`` for
the first and ``refuted``, with a counterexample record, for the second."""
