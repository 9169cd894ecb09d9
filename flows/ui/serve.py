"""``stagehouse ui``: start the cockpit's Streamlit server in this process.

On 127.0.0.1 (the default) anyone on the machine may use it. Another address needs a password in
``$STAGEHOUSE_UI_PASSWORD``, which every browser session must enter; the password is never put in
a page, a URL or the log.

Example::

    serve(instance="postgres", port=8501)
"""

from __future__ import annotations

import os
from pathlib import Path

from stagehouse.connectors.errors import StagehouseError
from stagehouse.connectors.extras import require
from stagehouse.connectors.settings import store_url
from stagehouse.flows.ui.streamlit_extra import bootstrap, st

APP = Path(__file__).with_name("app.py")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
PASSWORD_VARIABLE = "STAGEHOUSE_UI_PASSWORD"


class UiServeError(StagehouseError):
    """The cockpit cannot be served as asked (another address without a password)."""


def check_host(host: str) -> None:
    """Refuse an address other than this machine's without ``$STAGEHOUSE_UI_PASSWORD``."""
    if host not in LOCAL_HOSTS and not os.environ.get(PASSWORD_VARIABLE):
        raise UiServeError(
            f"--host {host} serves the cockpit to other machines: set a password in ${PASSWORD_VARIABLE} "
            "(every session must enter it), or leave --host out to serve 127.0.0.1 only",
            host=host,
        )


def serve(instance: str | None = None, port: int = 8501, host: str = "127.0.0.1") -> None:
    """Run the cockpit until interrupted."""
    require(st, bootstrap)
    check_host(host)
    if instance:
        os.environ["STAGEHOUSE_INSTANCE"] = instance
    store_url(instance)  # a missing pipedag.yaml or instance fails here, in one line
    flags = {
        "server.port": port,
        "server.address": host,
        "server.headless": True,
        "browser.gatherUsageStats": False,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "client.toolbarMode": "viewer",
        "global.developmentMode": False,
        "logger.level": "info",
        "client.showErrorDetails": "none",
    }
    print(
        f"Stagehouse cockpit on http://{host}:{port} (instance {os.environ.get('STAGEHOUSE_INSTANCE', 'local')})",
        flush=True,
    )
    bootstrap.load_config_options(flag_options=flags)
    bootstrap.run(str(APP), False, [], flags)
