"""The Tables grid's marks: an ``edited`` column always, colour on the edited cells only."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("streamlit")

from stagehouse.flows.ui.grid import GridPage  # noqa: E402
from stagehouse.flows.ui.views.common import EDITED_COLOUR  # noqa: E402
from stagehouse.flows.ui.views.tables import styled  # noqa: E402


def page(edited: set[tuple[str, str]], inserted: set[str]) -> GridPage:
    frame = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", "c"], "city": ["x", "y", "z"]})
    return GridPage("raw.t", "id", frame, 3, 0, edited_cells=edited, inserted_rows=inserted)


def test_a_page_without_edits_goes_as_its_frame():
    shown = styled(page(set(), set()))
    assert isinstance(shown, pd.DataFrame) and shown["edited"].tolist() == ["", "", ""]


def test_only_the_edited_cells_are_coloured():
    shown = styled(page({("2", "city")}, {"3"}))
    assert shown.data["edited"].tolist() == ["", "✎ city", "✎ id, name, city"]
    shown._compute()
    coloured = {(r, shown.data.columns[c]) for (r, c), styles in shown.ctx.items() if styles}
    assert coloured == {(1, "city"), (2, "id"), (2, "name"), (2, "city")}
    assert all(f"{k}: {v}" == EDITED_COLOUR for styles in shown.ctx.values() for k, v in styles)


def test_streamlit_gets_every_row_as_it_is_and_the_colour_of_the_edited_cells_only():
    """The Styler renders the edited rows only; Streamlit still shows every row of the frame."""
    import pyarrow as pa
    from streamlit.elements.lib.pandas_styler_utils import marshall_styler
    from streamlit.proto.ArrowData_pb2 import ArrowData

    proto = ArrowData()
    marshall_styler(proto, styled(page({("2", "city")}, set())), "grid")
    shown = pa.ipc.open_stream(proto.styler.display_values).read_all().to_pandas()
    assert shown["name"].tolist() == ["a", "b", "c"] and shown["city"].tolist() == ["x", "y", "z"]
    assert proto.styler.styles.count("background-color") == 1 and "_row1_col3 " in proto.styler.styles
