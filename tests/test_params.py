"""API parameters outside a view: each read alone, each bad one a ``ParamError`` naming it."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.data.errors import ParamError
from app.web.params import expected_version, one_of, poll_since, poll_timeout


def export_format(args: dict[str, str]) -> str:
    return one_of(args, "format", ("csv", "json"))


@pytest.mark.parametrize("parse, args, expected", [
    (poll_timeout, {}, 25.0),
    (poll_timeout, {"timeout": "0"}, 0.0),
    (poll_timeout, {"timeout": "60"}, 60.0),
    (poll_timeout, {"timeout": "2.5"}, 2.5),
    (poll_since, {}, -1),
    (poll_since, {"since": "0"}, 0),
    (poll_since, {"since": "42"}, 42),
    (export_format, {}, "csv"),
    (export_format, {"format": "json"}, "json"),
    (expected_version, {}, None),
    (expected_version, {"version": "7"}, 7),
])
def test_a_good_parameter_reads_as_its_value(parse: Callable[[dict[str, str]], Any],
                                             args: dict[str, str], expected: Any) -> None:
    assert parse(args) == expected


@pytest.mark.parametrize("parse, args, message", [
    (poll_timeout, {"timeout": "60.01"}, "timeout: seconds from 0 to 60"),
    (poll_timeout, {"timeout": "nan"}, "timeout: seconds from 0 to 60"),
    (poll_timeout, {"timeout": "soon"}, "timeout: seconds from 0 to 60"),
    (poll_since, {"since": "-1"}, "since: '-1' is not a version (0, 1, 2...)"),
    (poll_since, {"since": "1" * 19}, f"since: '{'1' * 19}' is not a version (0, 1, 2...)"),
    (export_format, {"format": "CSV"}, "format: 'CSV' is not one of csv, json"),
    (expected_version, {"version": "٣"}, "version: '٣' is not a version (1, 2, 3...)"),
    (expected_version, {"version": ""}, "version: '' is not a version (1, 2, 3...)"),
])
def test_a_bad_parameter_is_named_alone(parse: Callable[[dict[str, str]], Any],
                                        args: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError) as caught:
        parse(args)
    assert str(caught.value) == message
    assert not caught.value.names_every  # the 400 lists no "errors" it never checked
