"""Streamlit, the cockpit's web framework: installed with the ``ui`` extra.

Only ``stagehouse ui`` and the cockpit's pages import it (through this shim), so the rest of the
CLI starts without it and a missing extra fails with one line naming it.
"""

from stagehouse.connectors.extras import optional_import

st = optional_import("streamlit", feature="The data cockpit's pages", extra="ui")
bootstrap = optional_import("streamlit.web.bootstrap", feature="The data cockpit's pages", extra="ui")
