"""S3 access for uploaded documents, used by the API (uploads) and the document worker (downloads).

The client is plain `boto3.client("s3")`: boto3 reads the region and any AWS_ENDPOINT_URL from the environment,
which is how a local stack points it at a loopback S3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3

BUCKET_ENV = "DOCUMENT_BUCKET"


class StorageConfigError(RuntimeError):
    """The service cannot tell which bucket holds the documents."""


class ObjectTooLargeError(ValueError):
    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"s3 object {key} is {size} bytes, over the {limit}-byte limit")
        self.key = key
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None
    etag: str | None


class S3Service:
    def __init__(self, bucket: str | None = None, client: Any | None = None) -> None:
        resolved = bucket or os.environ.get(BUCKET_ENV, "").strip()
        if not resolved:
            raise StorageConfigError(f"{BUCKET_ENV} is not set; it must name the document bucket")
        self.bucket = resolved
        self._client = client

    @property
    def client(self) -> Any:
        # Created on first use so that constructing the service (and importing the handler) needs no AWS region.
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def head(self, key: str) -> ObjectInfo:
        response = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType"),
            etag=response.get("ETag"),
        )

    def download_bytes(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """Read the whole object; with max_bytes, refuse (before downloading) anything larger."""
        if max_bytes is not None:
            size = self.head(key).size
            if size > max_bytes:
                raise ObjectTooLargeError(key, size, max_bytes)
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        body: bytes = response["Body"].read()
        return body

    def upload_bytes(self, key: str, data: bytes, *, content_type: str = "application/pdf") -> ObjectInfo:
        response = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return ObjectInfo(key=key, size=len(data), content_type=content_type, etag=response.get("ETag"))
