"""Dashboards: the document (model, validation, file form), URL overrides, and storage."""
from __future__ import annotations

from .document import (
                       CheckQuery,
                       Dashboard,
                       DocumentError,
                       Panel,
                       Threshold,
                       parse_document,
                       split_envelope,
)
from .fields import MAX_PANELS, NAME
from .fileform import decode_json, document_dict, dump_document, load_document
from .overrides import OverrideError, Overrides, effective_queries, effective_query, parse_overrides
from .store import (
                       BrokenDashboard,
                       DashboardListing,
                       DashboardNotFound,
                       DashboardStore,
                       FileDashboardStore,
                       VersionConflict,
)

__all__ = [
    "MAX_PANELS", "NAME", "BrokenDashboard", "CheckQuery", "Dashboard", "DashboardListing",
    "DashboardNotFound", "DashboardStore", "DocumentError", "FileDashboardStore",
    "OverrideError", "Overrides", "Panel", "Threshold", "VersionConflict", "decode_json",
    "document_dict", "dump_document", "effective_queries", "effective_query", "load_document",
    "parse_document", "parse_overrides", "split_envelope",
]
