"""Probability bounds shared by the losses (torch) and the metrics (numpy)."""

PROB_EPS = 1e-7  # probabilities are clipped to [PROB_EPS, 1 - PROB_EPS] before a log
