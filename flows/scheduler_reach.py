"""Can a ``cluster`` instance's Dask scheduler be reached? ``stagehouse check --connect`` asks
before a run would find out: one ``distributed.Client`` with a short connect timeout, closed at once.

Only an instance whose orchestration is the cluster engine is asked, and only then is
distributed imported: ``stagehouse check`` on the other instances starts as fast as before.

Example::

    scheduler_problem("cluster", section, raw)   # None when it answered, else a ClusterUnreachableError:
    # Dask scheduler of instance 'cluster' (tcp://10.0.4.2:8786): Timed out …; start the scheduler, or …
"""

from __future__ import annotations

import socket
from typing import Any

from stagehouse.connectors.errors import first_line
from stagehouse.connectors.placeholders import PLACEHOLDER
from stagehouse.flows.worker_errors import ClusterUnreachableError

CLUSTER_ENGINE = "stagehouse.flows.cluster_engine.ClusterEngine"
CHECK_TIMEOUT = 5.0  # seconds: a check waits no longer, whatever the instance's connect_timeout


def scheduler_problem(instance: str, section: dict[str, Any], raw: dict[str, Any]) -> ClusterUnreachableError | None:
    """None when ``instance`` runs no cluster engine or its scheduler answered, else the error.

    ``section`` is the instance's resolved pipedag.yaml section, ``raw`` the same before its
    placeholders were filled in: an empty address names the variable that left it empty.
    """
    args = _orchestration_args(section)
    if args is None:
        return None
    address = str(args.get("address") or "").strip()
    if not address:
        raw_address = str((_orchestration_args(raw) or {}).get("address") or "")
        names = [name for name, _ in PLACEHOLDER.findall(raw_address)]
        if names:
            return ClusterUnreachableError("", f"{names[0]} is not set (or empty)", instance, names[0])
        return ClusterUnreachableError("", "orchestration.args.address is empty", instance)
    from stagehouse.connectors.extras import require
    from stagehouse.flows.dask_extra import distributed

    require(distributed)
    timeout = min(float(args.get("connect_timeout") or CHECK_TIMEOUT), CHECK_TIMEOUT)
    if refused := _tcp_refusal(address, timeout):  # the client would retry a refused port until its timeout
        return ClusterUnreachableError(address, refused, instance)
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        return ClusterUnreachableError(address, first_line(exc), instance)
    client.close()
    return None


def _tcp_refusal(address: str, timeout: float) -> str | None:
    """Why a plain ``tcp://host:port`` address takes no connection (refused, no such host), else
    None: for any other address, or one that accepts, the client's own handshake decides."""
    scheme, _, location = address.partition("://")
    host, _, port = location.rpartition(":")
    if scheme != "tcp" or not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except TimeoutError:
        return None  # slow, not refused: the client says how it timed out
    except OSError as exc:
        return f"nothing takes connections at {host}:{port} ({exc.strerror or first_line(exc)})"
    return None


def _orchestration_args(section: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster engine's arguments, or None when the instance's engine is another."""
    orchestration = section.get("orchestration") or {}
    if orchestration.get("class") != CLUSTER_ENGINE:
        return None
    return orchestration.get("args") or {}
