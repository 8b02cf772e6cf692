"""The query engine: series storage kernels, selections, aggregations."""
