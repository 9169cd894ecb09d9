"""REST/SaaS APIs: auth, pagination, retries, rate limits; records as Arrow batches."""

from stagehouse.connectors.rest.client import RestError
from stagehouse.connectors.rest.config import RestConnectionConfig
from stagehouse.connectors.rest.source import RestConnection

__all__ = ["RestConnection", "RestConnectionConfig", "RestError"]
