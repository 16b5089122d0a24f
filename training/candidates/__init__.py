"""AutoML candidates: quantile regressors over feature-core window rows (quantile.py, any
family) and their PBA form (pba_tabular.py); the leaderboards that rank them are in
dwcp_ml.evaluation (pba_board.py)."""
