"""TF Serving: its configs (models.config, batching.config, monitoring.config) and how to start the real binary."""
