"""Files: what each sync reads (SQL tables, REST objects, file globs, SFTP folders) and the files of
a file or SFTP connection."""

from __future__ import annotations

from stagehouse.flows.ui.file_board import FILE_KINDS, connection_kinds, folder, sources
from stagehouse.flows.ui.streamlit_extra import st
from stagehouse.flows.ui.views.common import instance, shown


@st.cache_resource(show_spinner=False, ttl=60)
def _sources(name: str) -> list[dict]:
    return sources(name)


def render() -> None:
    st.header("Files and sources")
    with shown():
        kinds = connection_kinds(instance())
        st.dataframe(
            [{"connection": n, "type": k} for n, k in kinds.items()],
            hide_index=True,
            width="stretch",
            key="connections_grid",
        )
        st.subheader("What each sync reads")
        st.dataframe(_sources(instance()), hide_index=True, width="stretch", key="sources_grid")
        file_connections = [n for n, k in kinds.items() if k in FILE_KINDS]
        if not file_connections:
            st.info("No file or SFTP connection is declared.")
            return
        st.subheader("dir")
        left, right = st.columns(2)
        name = left.selectbox("Connection", file_connections, key="files_connection")
        pattern = right.text_input("Files matching", value="**/*", key="files_pattern")
        st.dataframe(folder(name, instance(), pattern), hide_index=True, width="stretch", key="files_grid")
