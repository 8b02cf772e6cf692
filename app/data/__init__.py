"""Data in: schema inference, the store, the durable log (CSV files), ingest, the demo."""
