"""Where metrics come from and go to besides files: Prometheus as a source of training data
(its HTTP API, OpenMetrics backfill) and a replay exporter serving traces as metrics
(docs/prometheus-source.md)."""
