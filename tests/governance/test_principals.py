"""Principals: names are unique after trimming and case-folding, roles exist in the
policy, and a name is looked up canonically to the one principal it names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from govcx.errors import ConfigError
from govcx.governance.principal import canonical_name
from govcx.pack import Pack, load_pack
from tests.conftest import SHOP


def _pack_with(tmp_path: Path, principals: dict[str, object]) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(SHOP, root)
    config = yaml.safe_load((root / "govcx.yaml").read_text())
    config["principals"] = principals
    (root / "govcx.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.mark.parametrize("twin", ["Lee", "LEE", "lee ", " lee", "lee\t"])
def test_names_equal_after_trim_and_casefold_are_refused(tmp_path: Path, twin: str) -> None:
    root = _pack_with(
        tmp_path, {"lee": {"roles": ["approver:manager"]}, twin: {"roles": ["approver:manager"]}}
    )
    with pytest.raises(ConfigError, match="same name once trimmed and case-folded") as info:
        load_pack(root)
    assert "'lee'" in info.value.message and repr(twin) in info.value.message


def test_a_padded_name_alone_is_refused_too(tmp_path: Path) -> None:
    root = _pack_with(tmp_path, {"lee ": {"roles": ["approver:manager"]}})
    with pytest.raises(ConfigError, match="leading or trailing spaces; write it as 'lee'"):
        load_pack(root)


def test_an_approver_role_the_policy_does_not_define_is_refused(tmp_path: Path) -> None:
    root = _pack_with(tmp_path, {"dana": {"roles": ["approver:superviser"]}})
    with pytest.raises(ConfigError) as info:
        load_pack(root)
    message = info.value.message
    assert "'approver:superviser' of dana is not defined by the policy" in message
    assert "approver:manager, approver:supervisor" in message
    assert info.value.field == "principals.dana.roles"


def test_the_bundled_packs_and_fixtures_load() -> None:
    assert sorted(load_pack().principals) == [
        "ada",
        "dana",
        "ide",
        "kim",
        "lee",
        "raj",
        "rita",
        "sam",
        "web-chat",
    ]
    assert sorted(load_pack(SHOP).principals) == [
        "audit",
        "boss",
        "boss2",
        "kim",
        "pat",
        "sup",
        "web",
    ]


_SHOP: list[Pack] = []


def _shop() -> Pack:
    if not _SHOP:
        _SHOP.append(load_pack(SHOP))
    return _SHOP[0]


@given(
    name=st.sampled_from(["sup", "boss", "boss2", "web", "audit"]),
    left=st.text(" \t", max_size=2),
    right=st.text(" \t\n", max_size=2),
    upper=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_any_spelling_of_a_name_is_that_one_principal(
    name: str, left: str, right: str, upper: list[bool]
) -> None:
    spelled = "".join(c.upper() if up else c for c, up in zip(name, upper, strict=False))
    spelled += name[len(upper) :]
    found = _shop().principal(left + spelled + right)
    assert found.name == name and canonical_name(left + spelled + right) == name


def test_an_unknown_name_names_the_principals() -> None:
    with pytest.raises(ConfigError, match=r"unknown principal 'dana'.*boss, boss2"):
        _shop().principal("dana")
