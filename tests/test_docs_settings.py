"""docs/configuration.md documents every key of every settings section, as the models define them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from pydantic import BaseModel

from vsphere_dr.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def documented_keys() -> dict[str, set[str]]:
    """Section -> the keys of its table (a row may name several: `memory / quiesce`)."""
    found: dict[str, set[str]] = {}
    for chunk in re.split(r"^## \[", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]:
        section = chunk.split("]", 1)[0]
        rows = re.findall(r"^\| ([a-z_ /]+?) \|", chunk, flags=re.M)
        found[section] = {key.strip() for row in rows for key in row.split("/")} - {"key"}
    return found


def model_of(section: str) -> type[BaseModel]:
    annotation = Settings.model_fields[section].annotation
    return next(a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel))


def test_every_key_is_documented_in_its_section() -> None:
    docs = documented_keys()
    docs["admin_vcenter"] = docs["vcenter"]  # "takes exactly the keys of [vcenter]"
    docs["protection_groups"] = docs["protection.NAME"]  # one [protection.NAME] section per group
    missing = {f"[{section}] {key}" for section in Settings.model_fields for key in model_of(section).model_fields
               if key not in docs.get(section, set())}
    assert missing == set()


def test_no_documented_key_is_unknown() -> None:
    unknown = {f"[{section}] {key}" for section, keys in documented_keys().items() for key in keys
               if section in Settings.model_fields and key not in model_of(section).model_fields}
    assert unknown == set()
