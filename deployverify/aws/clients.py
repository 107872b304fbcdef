"""The boto3 clients one process of a smoke run uses, each made on first use through `deployverify.aws.session`.

Made lazily because most targets need only some services: a target without secrets never builds a Secrets
Manager client, and a check that fails before the pipeline never builds the Lambda one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deployverify.target.model import Target


@dataclass
class AwsClients:
    target: Target
    _made: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._made:
            from deployverify.aws.session import client

            self._made[service] = client(service, self.target)
        return self._made[service]

    @property
    def sqs(self) -> Any:
        return self.client("sqs")
