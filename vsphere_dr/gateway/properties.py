"""Bulk reads with ContainerView + PropertyCollector.

One read costs CreateContainerView, RetrievePropertiesEx (plus ContinueRetrievePropertiesEx only
when vCenter chooses to page), and DestroyView: a handful of round trips whatever the number of
objects, where reading attributes one by one costs one round trip per object and property.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyVmomi import vim, vmodl

PropertyMap = dict[str, Any]


Extra = tuple[Any, type, Sequence[str]]  # (managed object, its type, property paths)


def retrieve(content: vim.ServiceInstanceContent, wanted: Mapping[type, Sequence[str]],
             root: vim.ManagedEntity | None = None, extra: Sequence[Extra] = ()) -> list[tuple[Any, PropertyMap]]:
    """Return ``(managed object, {property path: value})`` for every object of the wanted types,
    and for the ``extra`` objects outside the inventory tree (in the same RetrievePropertiesEx).

    Properties that are unset on an object are simply absent from its map.
    """
    view = content.viewManager.CreateContainerView(root or content.rootFolder, list(wanted), True)
    try:
        return _collect(content.propertyCollector, filter_spec(view, wanted, extra))
    finally:
        view.DestroyView()


def read_object(content: vim.ServiceInstanceContent, obj: Any, paths: Sequence[str]) -> PropertyMap:
    """``{property path: value}`` of one managed object, in one RetrievePropertiesEx round trip.

    Reading the properties as pyVmomi attributes would cost a round trip each.
    """
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=obj, skip=False)],
                         propSet=[pc.PropertySpec(type=type(obj), pathSet=list(paths), all=False)])
    found = _collect(content.propertyCollector, spec)
    return found[0][1] if found else {}


def filter_spec(view: vim.view.ContainerView, wanted: Mapping[type, Sequence[str]], extra: Sequence[Extra] = ()) -> Any:
    """The wanted properties of every object in the view, and of the extra objects (a full read's
    and the watcher's filter)."""
    pc = vmodl.query.PropertyCollector
    traverse = pc.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)
    return pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[traverse])]
        + [pc.ObjectSpec(obj=obj, skip=False) for obj, _, _ in extra],
        propSet=[pc.PropertySpec(type=kind, pathSet=list(paths), all=False)
                 for kind, paths in [*wanted.items(), *((kind, paths) for _, kind, paths in extra)]],
    )


def _collect(collector: vmodl.query.PropertyCollector, spec: Any) -> list[tuple[Any, PropertyMap]]:
    found: list[tuple[Any, PropertyMap]] = []
    result = collector.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions())
    while result is not None:
        found.extend((obj.obj, {prop.name: prop.val for prop in obj.propSet or ()}) for obj in result.objects)
        if not result.token:
            break
        result = collector.ContinueRetrievePropertiesEx(result.token)
    return found


def retrieve_objects(content: vim.ServiceInstanceContent, objects: Sequence[Any], kind: type,
                     paths: Sequence[str]) -> list[tuple[Any, PropertyMap]]:
    """Like ``retrieve``, for managed objects outside the inventory tree (alarms, say), in one read."""
    if not objects:
        return []
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=obj, skip=False) for obj in objects],
                         propSet=[pc.PropertySpec(type=kind, pathSet=list(paths), all=False)])
    return _collect(content.propertyCollector, spec)
