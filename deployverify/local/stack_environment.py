"""The environment a process needs to talk to the local stack: endpoint, dummy credentials, region, and the names
of the resources a smoke run looks for (DV_LOCAL_*)."""

from __future__ import annotations

import os

from deployverify.core.errors import DeployVerifyError
from deployverify.local import moto_server
from deployverify.local.stack_state import QueueRecord, StackResources, StackState, read_state, state_path


def environment(state: StackState | None = None) -> dict[str, str]:
    """What a process needs to talk to this stack: endpoint, dummy credentials, region, and the resources' names."""
    state = state or read_state()
    if not state:
        raise DeployVerifyError("no local stack is up; run `deployverify local up -c FILE` first")
    env = {
        "AWS_ENDPOINT_URL": state.endpoint,
        "AWS_ACCESS_KEY_ID": moto_server.CREDENTIALS[0],
        "AWS_SECRET_ACCESS_KEY": moto_server.CREDENTIALS[1],
        "AWS_REGION": state.region,
        "AWS_DEFAULT_REGION": state.region,
        "DV_LOCAL_STATE": str(state_path()),
    }
    names = _primary_names(state.resources)
    env.update({k: v for k, v in names.items() if v})
    return env


def _primary_names(resources: StackResources) -> dict[str, str]:
    queues = resources.queues
    triggers = {fn.trigger_queue for fn in resources.functions.values()}
    trigger: QueueRecord | None = next((q for logical, q in queues.items() if logical in triggers), None)
    dlq = next((q for logical, q in queues.items() if trigger is not None and logical == trigger.dlq), None)
    if dlq is None:
        dlq = next((q for q in queues.values() if q is not trigger), None)
    function = next(iter(resources.functions.values()), None)
    bucket = next(iter(resources.buckets.values()), "")
    secret = next(iter(resources.secrets.values()), None)
    return {"DV_LOCAL_BUCKET": bucket, "DV_LOCAL_QUEUE_URL": trigger.url if trigger else "",
            "DV_LOCAL_DLQ_URL": dlq.url if dlq else "", "DV_LOCAL_SECRET_ID": secret.name if secret else "",
            "DV_LOCAL_FUNCTION_NAME": function.name if function else "",
            "DV_LOCAL_LOG_GROUP": function.log_group if function else ""}


def apply_environment(state: StackState | None = None) -> dict[str, str]:
    """Point this process at the local stack (what `deployverify smoke --local` and `demo` do)."""
    env = environment(state)
    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_") or k in ("AWS_PROFILE",
                                                                                       "AWS_SESSION_TOKEN")]:
        del os.environ[name]  # a per-service endpoint or a profile would send some calls elsewhere
    os.environ.update(env)
    from deployverify.aws.session import clear_cache

    clear_cache()
    return env
