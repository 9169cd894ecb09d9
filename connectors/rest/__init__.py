"""REST/SaaS APIs: auth, pagination, retries, rate limits; records as Arrow batches."""

from connectors.rest.client import RestError
from connectors.rest.config import RestConnectionConfig
from connectors.rest.source import RestConnection

__all__ = ["RestConnection", "RestConnectionConfig", "RestError"]
