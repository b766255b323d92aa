"""Metrics: per-class classification figures, targets, and the run report."""
