"""Data in: reading files as people write them, and the schema they map onto."""
