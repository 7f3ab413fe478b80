"""Events and webhook endpoints."""

from stripe_sandbox import core
from stripe_sandbox.errors import InvalidRequest
from stripe_sandbox.models import SandboxObject
from stripe_sandbox.params import LIST_PARAMS, Bool, List, Metadata, Str
from stripe_sandbox.router import route


@route("GET", "/v1/events/{id}")
def event_retrieve(req, id):
    req.validate({})
    return core.get(id, kind="event", account=req.account)


@route("GET", "/v1/events")
def event_list(req):
    values = req.validate(LIST_PARAMS | {"type": Str(), "types": List(Str())})
    types = values.get("types") or ([values["type"]] if values.get("type") else None)

    def matches(event):
        if not types:
            return True
        return any(
            event["type"] == t or (t.endswith("*") and event["type"].startswith(t[:-1]))
            for t in types
        )

    return core.list_response(
        req, "event", url="/v1/events", account=req.account, predicate=matches
    )


ENDPOINT_FIELDS = {
    "url": Str(required=True),
    "enabled_events": List(Str(), required=True),
    "description": Str(),
    "metadata": Metadata(),
    "connect": Bool(),
    "api_version": Str(),
}


@route("POST", "/v1/webhook_endpoints")
def webhook_endpoint_create(req):
    values = req.validate(ENDPOINT_FIELDS)
    if not values["url"].startswith(("http://", "https://")):
        raise InvalidRequest("Invalid URL: must be an http or https URL.", param="url")
    endpoint = {
        "id": core.new_id("we"),
        "object": "webhook_endpoint",
        "api_version": values.get("api_version") or core.API_VERSION,
        "application": "ca_bazaar_sandbox" if values.get("connect") else None,
        "created": core.now(),
        "description": values.get("description"),
        "enabled_events": values["enabled_events"],
        "livemode": False,
        "metadata": values.get("metadata", {}),
        "secret": "whsec_" + core.new_id("x", 32)[2:],
        "status": "enabled",
        "url": values["url"],
    }
    return core.save(endpoint)


@route("GET", "/v1/webhook_endpoints/{id}")
def webhook_endpoint_retrieve(req, id):
    req.validate({})
    endpoint = dict(core.get(id, kind="webhook_endpoint"))
    endpoint.pop("secret", None)  # Stripe shows the secret only when the endpoint is created
    return endpoint


@route("POST", "/v1/webhook_endpoints/{id}")
def webhook_endpoint_update(req, id):
    values = req.validate(
        {
            "url": Str(),
            "enabled_events": List(Str()),
            "description": Str(),
            "metadata": Metadata(),
            "disabled": Bool(),
        }
    )
    endpoint = core.get(id, kind="webhook_endpoint")
    if "disabled" in values:
        endpoint["status"] = "disabled" if values.pop("disabled") else "enabled"
    endpoint.update(values)
    core.save(endpoint)
    shown = dict(endpoint)
    shown.pop("secret", None)
    return shown


@route("GET", "/v1/webhook_endpoints")
def webhook_endpoint_list(req):
    req.validate(LIST_PARAMS)
    listing = core.list_response(
        req, "webhook_endpoint", url="/v1/webhook_endpoints", account=core.PLATFORM
    )
    listing["data"] = [{k: v for k, v in e.items() if k != "secret"} for e in listing["data"]]
    return listing


@route("DELETE", "/v1/webhook_endpoints/{id}")
def webhook_endpoint_delete(req, id):
    req.validate({})
    core.get(id, kind="webhook_endpoint")
    SandboxObject.objects.filter(stripe_id=id).delete()
    return {"id": id, "object": "webhook_endpoint", "deleted": True}
