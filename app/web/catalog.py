"""The datasets summary that ``/`` and ``/api/datasets`` show."""
from __future__ import annotations

from typing import Any

from ..data.store import Store
from ..instants import format_instant
from ..jsoncodec import dumps

# Values of each label listed (in the order they first appeared); ``label_counts`` gives
# how many there are. 100k values made /api/datasets 22.5 MB for anyone who asked.
LISTED_VALUES = 1000
# And bytes of them (as JSON) a label, and in the whole listing: 50 labels of 1,000 values
# of 1 KB each made it 50 MB all the same. 1,000 values of a typical 10-character label
# fit in the first; a label cut short by either is named in ``labels_truncated``.
LISTED_BYTES = 16 * 1024
LISTED_BYTES_IN_ALL = 512 * 1024


def _listed(values: Any, budget: int) -> list[str]:
    """The first of ``values`` (at most ``LISTED_VALUES``) whose JSON fits in ``budget``
    bytes, in order, stopping at the first that does not."""
    out: list[str] = []
    for value in values[:LISTED_VALUES]:
        budget -= len(dumps(value)) + 1  # its comma
        if budget < 0:
            break
        out.append(value)
    return out


def describe(store: Store) -> list[dict[str, Any]]:
    """Every dataset (and file that failed to load): the SPEC's fields, by name; each
    label lists at most ``LISTED_VALUES`` values and ``LISTED_BYTES`` of them (and all
    labels ``LISTED_BYTES_IN_ALL``); ``label_counts`` says how many there are, and
    ``labels_truncated`` names the labels listed short of that."""
    out = []
    left = LISTED_BYTES_IN_ALL
    for name in store.names():
        dataset = store.find(name)
        entry: dict[str, Any] = {  # the SPEC's fields, empty for a file that never loaded
            "name": name, "error": store.error(name), "rows": None,
            "points": None, "metrics": [], "labels": {}, "label_counts": {},
            "labels_truncated": [], "start": None,
            "end": None, "version": None, "epoch": None, "skipped": 0, "warnings": []}
        if dataset is not None:
            snap = dataset.snapshot()
            labels = {}
            for label, values in snap.label_values.items():
                labels[label] = _listed(values, min(LISTED_BYTES, left))
                left -= len(dumps(labels[label]))
            entry.update(
                rows=dataset.rows,
                points=len(snap),
                metrics=list(snap.metrics),
                labels=labels,
                label_counts={k: len(v) for k, v in snap.label_values.items()},
                labels_truncated=[k for k, v in snap.label_values.items()
                                  if len(labels[k]) < len(v)],
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
