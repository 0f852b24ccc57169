"""RFC 6125 / RFC 7672 3.2.3 name checks."""

from __future__ import annotations

import pytest

from tests.unit.test_dane_pki import issue
from workers.dane.names import leaf_matches, name_matches, normalize_name, presented_names


@pytest.mark.parametrize(
    ("presented", "reference", "ok"),
    [
        ("mx.example.com", "mx.example.com", True),
        ("mx.example.com", "mx2.example.com", False),
        ("*.example.com", "mx.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.com", "example.com", False),
        ("m*.example.com", "mx.example.com", False),
        ("*x.example.com", "mx.example.com", False),
        ("mx.*.com", "mx.example.com", False),
        ("*.*.example.com", "a.b.example.com", False),
        ("*..com", "a..com", False),
        ("", "", False),
    ],
)
def test_name_matches(presented: str, reference: str, ok: bool) -> None:
    assert name_matches(presented, reference) is ok


def test_normalize() -> None:
    assert normalize_name(" MX.Example.COM. ") == "mx.example.com"


def test_san_wins_over_common_name() -> None:
    both = issue("cn.example.com", sans=["san.example.com"])
    assert presented_names(both.cert) == ("san.example.com",)
    assert not leaf_matches(both.cert, ["cn.example.com"])
    only_cn = issue("CN.Example.com", sans=[])
    assert presented_names(only_cn.cert) == ("cn.example.com",)
    assert leaf_matches(only_cn.cert, ["x.example.org", "cn.example.com."])
