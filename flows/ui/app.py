"""The cockpit's Streamlit script (``stagehouse ui`` serves it): the password gate, the sidebar and
the page chosen in it. Each page lives in ``views/``.

Run by Streamlit as a script, so it imports by absolute name.
"""

from __future__ import annotations

import hmac
import os

from stagehouse.flows.ui.serve import PASSWORD_VARIABLE
from stagehouse.flows.ui.streamlit_extra import st
from stagehouse.flows.ui.views import changes, edit, files, flows, tables
from stagehouse.flows.ui.views.common import instance, user

PAGES = {"Tables": tables, "Edit": edit, "Changes": changes, "Flows and runs": flows, "Files": files}


def signed_in() -> bool:
    """True when no password is set, or this session entered it (compared in constant time, never shown)."""
    password = os.environ.get(PASSWORD_VARIABLE)
    if not password or st.session_state.get("signed_in"):
        return True
    st.title("Stagehouse cockpit")
    with st.form("sign_in"):
        given = st.text_input("Password", type="password", key="password")
        if st.form_submit_button("Sign in"):
            if hmac.compare_digest(given.encode(), password.encode()):
                st.session_state["signed_in"] = True
                del st.session_state["password"]
                st.rerun()
            st.error("wrong password")
    return False


def main() -> None:
    st.set_page_config(page_title="Stagehouse cockpit", page_icon="🗄️", layout="wide")
    if not signed_in():
        return
    with st.sidebar:
        st.markdown(f"### Stagehouse\ninstance **{instance()}**")
        wanted = st.query_params.get("page")
        names = list(PAGES)
        page = st.radio("Page", names, index=names.index(wanted) if wanted in names else 0, key="page")
        st.text_input("Your name (edits are logged under it)", value=user(), key="user")
    PAGES[page].render()


main()
