"""AutoML candidates: quantile regressors over feature-core window rows (quantile.py, any
family), their PBA form (pba_tabular.py) and the PBA leaderboard (pba_board.py)."""
