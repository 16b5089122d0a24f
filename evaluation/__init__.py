"""Evaluation, downstream of training and export: each family's cross-validated report
beside its baselines (``<family>.evaluate``), the leaderboards, and ``dwcp-ml eval``'s
request. Training and export never import this package."""
