"""What the SAM transform adds to a template, so that references to it are not taken for references to nothing.

SAM writes resources that are not in the template: a function without `Role:` gets `<Function>Role`, an `Api`
event without `RestApiId` gets the implicit `ServerlessRestApi` (and an `HttpApi` one `ServerlessHttpApi`). It also
lets `!Ref` name some of them through their owner, `!Ref Worker.Alias` or `!Ref Api.Stage` ("referenceable
properties" in SAM's documentation), which it rewrites to the generated resource. Each of these is known only to the
deployed stack, like any resource's `!Ref`.
"""

from __future__ import annotations

from typing import Any

# SAM's referenceable properties, by the type of the resource they belong to.
_PROPERTIES = {
    "AWS::Serverless::Function": frozenset({"Alias", "Version", "DestinationTopic", "DestinationQueue"}),
    "AWS::Serverless::Api": frozenset({"Stage", "Deployment", "DomainName", "UsagePlan", "UsagePlanKey", "ApiKey"}),
    "AWS::Serverless::HttpApi": frozenset({"Stage", "DomainName"}),
}
# A function's Alias and Version exist only when it publishes one.
_NEEDS_ALIAS = frozenset({"Alias", "Version"})
_WITH_ROLE = frozenset({"AWS::Serverless::Function", "AWS::Serverless::StateMachine"})


def _properties(resource: Any) -> dict[str, Any]:
    properties = resource.get("Properties") if isinstance(resource, dict) else None
    return properties if isinstance(properties, dict) else {}


def _globals_function(template: dict[str, Any]) -> dict[str, Any]:
    found = (template.get("Globals") or {}).get("Function") if isinstance(template.get("Globals"), dict) else None
    return found if isinstance(found, dict) else {}


def generated_resources(template: dict[str, Any]) -> frozenset[str]:
    """Logical ids SAM adds to `template` that its own references may name."""
    resources = template.get("Resources") or {}
    found: set[str] = set()
    for logical, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        properties = _properties(resource)
        if kind in _WITH_ROLE and "Role" not in properties:
            found.add(f"{logical}Role")
        if kind != "AWS::Serverless::Function":
            continue
        events = properties.get("Events")
        for event in events.values() if isinstance(events, dict) else ():
            event_type = event.get("Type") if isinstance(event, dict) else None
            event_properties = _properties(event)
            if event_type == "Api" and "RestApiId" not in event_properties:
                found.add("ServerlessRestApi")
            if event_type == "HttpApi" and "ApiId" not in event_properties:
                found.add("ServerlessHttpApi")
    return frozenset(found)


def referenceable_property_problem(template: dict[str, Any], name: str) -> str | None:
    """For a `!Ref Owner.Property`: None when SAM resolves it, else why it does not (one clause). A name that is
    not of that form is not SAM's to resolve: also a problem."""
    owner, _, prop = name.partition(".")
    resources = template.get("Resources") or {}
    resource = resources.get(owner)
    kind = resource.get("Type") if isinstance(resource, dict) else None
    allowed = _PROPERTIES.get(str(kind))
    if not prop or allowed is None:
        return f"no parameter, pseudo parameter or resource is named {name!r}"
    if prop not in allowed:
        return f"SAM gives {kind} {owner} no property {prop!r} to reference (it has {', '.join(sorted(allowed))})"
    if kind == "AWS::Serverless::Function" and prop in _NEEDS_ALIAS:
        alias = _properties(resource).get("AutoPublishAlias", _globals_function(template).get("AutoPublishAlias"))
        if alias is None:
            return f"SAM creates {owner}.{prop} only for a function with AutoPublishAlias: set it on {owner}"
    return None
