"""The data layer: datasets, their store and log, ingest, and dashboards storage."""
