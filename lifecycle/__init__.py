"""The model lifecycle: MLflow tracking and the model registry, drift reports, champion /
challenger retraining, and the pipeline as a DAG (docs/lifecycle.md)."""
