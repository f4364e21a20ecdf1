"""The registry of action kinds is the one list: the plan, the journal and the docs agree with it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.recovery_lab import CASES
from vsphere_dr.plan import ActionKind
from vsphere_dr.recoveries import KINDS, REGISTRY
from vsphere_dr.recoveries.base import Recovery

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "recovery.md"


def test_every_planned_kind_has_its_module_and_every_module_is_planned() -> None:
    assert set(ActionKind) == set(REGISTRY)
    assert len(KINDS) == len(REGISTRY), "two modules claim the same kind name"


def test_every_kind_that_changes_vcenter_is_tested_against_the_fake() -> None:
    tested = {case.build()[1].kind.value for case in CASES}
    assert {k.kind for k in KINDS if k.changes_vcenter} <= tested


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_params_round_trip_through_the_journals_json(case) -> None:  # type: ignore[no-untyped-def]
    act = case.build()[1]
    kind = act.kind.recovery
    assert kind.params_type.model_validate(json.loads(json.dumps(act.params.as_json()))) == act.params


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_steps_are_well_formed(kind: type[Recovery]) -> None:
    for case in (c for c in CASES if c.build()[1].kind.value == kind.kind):
        names = [s.name for s in kind.steps(case.build()[1].params)]
        assert len(names) == len(set(names)), "step names are unique: the journal records them"
        assert kind.commit_step is None or kind.commit_step in names
        guards = [i for i, s in enumerate(kind.steps(case.build()[1].params)) if s.guard]
        assert guards == list(range(len(guards))), "guards come before the first change"
    if not kind.changes_vcenter:
        assert kind.STEPS == () and not kind.counts_as_restart and not kind.creates_copy


def step_table() -> str:
    """docs/recovery.md's table of kinds, as the registry defines them (guards in italics)."""
    lines = ["| action | steps (*guards* first) | counts against max_restarts | makes a copy | incident |",
             "| --- | --- | --- | --- | --- |"]
    for kind in KINDS:
        if not kind.changes_vcenter:
            continue
        params = next(c.build()[1].params for c in CASES if c.build()[1].kind.value == kind.kind)
        steps = ", ".join(f"*{s.name}*" if s.guard else (f"**{s.name}**" if s.name == kind.commit_step else s.name)
                          for s in kind.steps(params))
        yes = lambda flag: "yes" if flag else "no"  # noqa: E731
        lines.append(f"| {kind.kind} | {steps} | {yes(kind.counts_as_restart)} | {yes(kind.creates_copy)} "
                     f"| {yes(kind.opens_incident)} |")
    return "\n".join(lines)


def test_the_docs_step_table_is_the_registrys() -> None:
    found = re.search(r"<!-- kinds:start -->\n(.*?)\n<!-- kinds:end -->", DOC.read_text(encoding="utf-8"), re.S)
    assert found is not None, "docs/recovery.md lost its table markers"
    assert found.group(1) == step_table(), f"docs/recovery.md should show:\n{step_table()}"
