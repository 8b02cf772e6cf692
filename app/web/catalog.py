"""The datasets summary that ``/`` and ``/api/datasets`` show."""
from __future__ import annotations

from typing import Any

from ..data.store import Store
from ..instants import format_instant

# Values of each label listed (in the order they first appeared); ``label_counts`` gives
# how many there are. 100k values made /api/datasets 22.5 MB for anyone who asked.
LISTED_VALUES = 1000


def describe(store: Store) -> list[dict[str, Any]]:
    """Every dataset (and file that failed to load): the SPEC's fields, by name; each
    label lists at most ``LISTED_VALUES`` values and ``label_counts`` says how many."""
    out = []
    for name in store.names():
        dataset = store.find(name)
        entry: dict[str, Any] = {  # the SPEC's fields, empty for a file that never loaded
            "name": name, "error": store.error(name), "rows": None,
            "points": None, "metrics": [], "labels": {}, "label_counts": {}, "start": None,
            "end": None, "version": None, "epoch": None, "skipped": 0, "warnings": []}
        if dataset is not None:
            snap = dataset.snapshot()
            entry.update(
                rows=dataset.rows,
                points=len(snap),
                metrics=list(snap.metrics),
                labels={k: list(v[:LISTED_VALUES]) for k, v in snap.label_values.items()},
                label_counts={k: len(v) for k, v in snap.label_values.items()},
                start=format_instant(snap.start) if snap.start is not None else None,
                end=format_instant(snap.end) if snap.end is not None else None,
                version=snap.version,
                skipped=dataset.skipped,
                warnings=list(dataset.warnings),
                epoch=snap.epoch,
                updated=dataset.updated_at,
                source=dataset.source,
            )
        out.append(entry)
    return out
