"""Trust-anchor files: anything that is not one is a ValueError naming the file and line (the
commands turn it into one line), never a dnspython exception escaping as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.dns import load_trust_anchor

ROOT_DS = (". IN DS 20326 8 2 "
           "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")


def test_a_root_ds_file(tmp_path: Path) -> None:
    path = tmp_path / "root.ds"
    path.write_text("; the root\n" + ROOT_DS)
    (ds,) = load_trust_anchor(str(path))
    assert ds.key_tag == 20326  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", [
    "-----BEGIN CERTIFICATE-----\n" + "M" * 64 + "\n-----END CERTIFICATE-----\n",  # long label
    ". IN DS 20326 8 2 not-hex\n",
    ". IN DS 20326\n",
    "a..b IN DS 20326 8 2 00\n",
    "",
])
def test_not_a_trust_anchor_is_a_value_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "anchor"
    path.write_text(text)
    with pytest.raises(ValueError, match=str(path)):
        load_trust_anchor(str(path))
