"""Document storage (S3)."""

from shared.storage.s3_service import ObjectInfo, S3Service, StorageConfigError

__all__ = ["ObjectInfo", "S3Service", "StorageConfigError"]
