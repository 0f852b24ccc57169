"""Registered domains by the Public Suffix List: the list's own test cases (checkPublicSuffix)."""

from __future__ import annotations

import pytest

from workers.psl import SuffixList, load, second_level

SMALL = SuffixList.parse("""
// comment
com
uk
co.uk
*.ck
!www.ck
jp
kobe.jp
*.kobe.jp
!city.kobe.jp
us
ak.us
k12.ak.us
uk.com
""".splitlines())

CASES = [
    ("com", ""), ("example.com", "example.com"), ("b.example.com", "example.com"),
    ("a.b.example.com.", "example.com"), ("example.co.uk", "example.co.uk"),
    ("www.example.co.uk", "example.co.uk"), ("co.uk", ""),
    ("ck", ""), ("test.ck", ""), ("b.test.ck", "b.test.ck"), ("a.b.test.ck", "b.test.ck"),
    ("www.ck", "www.ck"), ("www.www.ck", "www.ck"),
    ("c.kobe.jp", ""), ("b.c.kobe.jp", "b.c.kobe.jp"), ("city.kobe.jp", "city.kobe.jp"),
    ("www.city.kobe.jp", "city.kobe.jp"),
    ("k12.ak.us", ""), ("test.k12.ak.us", "test.k12.ak.us"),
    ("example.uk.com", "example.uk.com"), ("uk.com", ""),
    ("foo.bar.example", "bar.example"),  # unlisted TLD: the implicit "*" rule
    ("EXAMPLE.COM", "example.com"),
]


@pytest.mark.parametrize(("name", "registered"), CASES)
def test_psl_rules(name: str, registered: str) -> None:
    assert SMALL.registered(name) == registered


def test_the_installed_list_and_where_the_paper_differs() -> None:
    psl = load()
    assert psl.registered("mail.example.co.uk") == "example.co.uk"
    assert second_level("mail.example.co.uk") == "co.uk"  # the paper's simplification
    assert psl.registered("mx1.bighost.net") == second_level("mx1.bighost.net") == "bighost.net"
