"""DV0xx: the smoke run can reach AWS (or the endpoint AWS_ENDPOINT_URL names) with the configured credentials."""

from __future__ import annotations

import os

from botocore.exceptions import BotoCoreError, ClientError

from deployverify.aws import session
from deployverify.core import check as dv
from deployverify.core import registry
from deployverify.core.check import check
from deployverify.core.errors import DeployVerifyError
from deployverify.target import Target


@check("DV002")
def test_aws_answers(target: Target) -> None:
    """AWS answers `sts:GetCallerIdentity` with the credentials boto3's standard chain finds, at the configured
    endpoint.

    Every later smoke check talks to AWS; when this one fails they fail too, and this message says why: no region,
    no credentials, expired credentials, or an endpoint that does not answer.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
    try:
        region = session.region(target)
    except DeployVerifyError as exc:
        dv.fail(registry.message("DV002", endpoint=endpoint, region="no region", call="(none)", error=exc.detail,
                                 fix="set AWS_REGION or `region:` in the target file"))
    try:
        identity = session.client("sts", target, max_attempts=2).get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        dv.fail(registry.message("DV002", endpoint=endpoint, region=region, call="sts:GetCallerIdentity", error=code,
                                 fix="refresh the credentials or assume a role that may call AWS"))
    except BotoCoreError as exc:
        dv.fail(registry.message("DV002", endpoint=endpoint, region=region, call="sts:GetCallerIdentity",
                                 error=f"{type(exc).__name__}: {exc}",
                                 fix="configure credentials (environment, profile or role) and check the endpoint"))
    dv.evidence(f"AWS at {endpoint} ({region}) answers as account {identity['Account']} ({identity['Arn']})")
