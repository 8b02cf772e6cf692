"""Data in: schemas, the store, the durable logs (CSV files, Redis streams), ingest, the demo."""
