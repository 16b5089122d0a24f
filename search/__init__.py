"""Hyperparameter and architecture search with Optuna (docs/search.md)."""
