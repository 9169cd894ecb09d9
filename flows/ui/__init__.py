"""``stagehouse ui``: the data cockpit, a Streamlit web app over the store, change log and runs.

The modules without Streamlit (``store_access``, ``grid``, ``grid_edits``, ``flow_board``,
``file_board``) hold the logic and are tested on their own; ``app`` and ``pages/`` only draw it.
Streamlit is imported by ``app``, ``pages`` and ``serve`` alone, so the rest of the CLI never loads it.
"""
