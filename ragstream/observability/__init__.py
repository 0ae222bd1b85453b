"""Metrics, consumer lag, trace context and structured logs shared by every ragstream process.

Names and labels are documented in docs/metrics.md; deploy/observability/ holds the Prometheus
scrape config, alert rules and Grafana dashboard built on them.
"""
