"""Analysis engines on metric series: forecasting, capacity, anomalies, change points.

Pure computation on `series.Series` values; nothing here talks to Prometheus, the
cluster or the network.
"""
