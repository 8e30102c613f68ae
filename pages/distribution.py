"""Distribution: how each category's labels spread over its values, through the active label map."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fashion_core.csv_cells import frame_to_csv
from fashion_core.labels import label_view
from fashion_core.schema import Kind, Schema
from fashion_core.views import charts
from ui.page import PageContext, run_page
from ui.services import get_store
from ui.text import plain

ORDER_LABELS = {"schema": "Schema order", "count": "Largest first"}
METRIC_LABELS = {"count": "Counts", "share": "Shares"}
NORMALIZE_LABELS = {"count": "Images", "row": "Share of the row class"}


@st.cache_data(max_entries=8, show_spinner="Counting labels...")
def _distribution(
    db: str, dataset: str, version: tuple
) -> tuple[Schema, pd.DataFrame, dict[str, pd.DataFrame], str | None, int | None]:
    """Counts of every value (and co-occurrences of multi-label classes) as of ``version``.

    Only these small tables are cached, never the labels themselves.
    """
    view = label_view(get_store(), dataset)
    table = charts.counts_table(view.schema, view.labels)
    co = {
        c.name: charts.cooccurrence_matrix(c, view.labels)
        for c in view.schema.categories
        if c.kind is Kind.MULTI
    }
    return view.schema, table, co, view.map_name, view.map_version


def _controls(default_min: int) -> tuple[str, str, int]:
    cols = st.columns([2, 2, 2], vertical_alignment="bottom")
    order = (
        cols[0].segmented_control(
            "Order", list(ORDER_LABELS), format_func=ORDER_LABELS.get, default="schema", key="dist_order"
        )
        or "schema"
    )
    metric = (
        cols[1].segmented_control(
            "Show", list(METRIC_LABELS), format_func=METRIC_LABELS.get, default="count", key="dist_metric"
        )
        or "count"
    )
    min_count = cols[2].number_input(
        "Minimum images per value",
        min_value=0,
        value=default_min,
        step=10,
        key="dist_min_count",
        help=(
            "Values with fewer images are flagged in red: too few to learn from reliably. "
            "It starts at half the median images per value (at most 50, a common rule of thumb)."
        ),
    )
    return order, metric, int(min_count)


def _summary(schema: Schema, table: pd.DataFrame, min_count: int) -> None:
    st.subheader("All categories")
    st.dataframe(
        charts.summary_table(schema, table, min_count=min_count),
        hide_index=True,
        width="stretch",
        key="dist_summary",
        column_config={
            "imbalance_ratio": st.column_config.NumberColumn("imbalance ratio", format="%.1f×"),
            "rare_values": st.column_config.TextColumn(f"values under {min_count:,}"),
            "zero_values": st.column_config.NumberColumn("values with no image"),
        },
    )
    st.caption(
        "Imbalance ratio: images of the most frequent value / images of the least frequent value "
        "that has any. Values with no image are left out of the ratio (it would be infinite) and "
        "counted under *values with no image*; they are always flagged as under the minimum."
    )


def _category(schema: Schema, table: pd.DataFrame, co: dict, order: str, metric: str, min_count: int) -> None:
    names = schema.category_names
    if st.session_state.get("dist_category") not in names:
        st.session_state.pop("dist_category", None)
    name = st.selectbox("Category", names, key="dist_category")
    cat = schema.category(name)
    rows = charts.category_counts(table, name, order=order)
    imb = charts.imbalance(rows)
    rare = charts.rare_values(rows, min_count)
    m = st.columns(4)
    m[0].metric("Images labelled", f"{int(rows['images'].iloc[0]):,}")
    m[1].metric(
        "Imbalance ratio",
        f"{imb.ratio:.1f}×" if imb.ratio is not None else "—",
        help=f"{imb.largest} ({imb.largest_count:,}) / {imb.smallest} ({imb.smallest_count:,})"
        if imb.ratio is not None
        else "No value has an image.",
    )
    m[2].metric(f"Values under {min_count:,}", f"{len(rare)} of {len(cat.values)}")
    m[3].metric("Values with no image", len(imb.zero_values))
    chart, data = st.tabs(["Chart", "Table"])
    with chart:
        title = f"{name}: positives per class" if cat.kind is Kind.MULTI else name
        st.plotly_chart(
            charts.counts_figure(rows, metric=metric, min_count=min_count, title=title),
            key="dist_counts_chart",
        )
        _rare_note(rare, min_count)
        if cat.kind is Kind.MULTI:
            _cooccurrence(name, co[name])
    with data:
        st.dataframe(charts.flag_rare(rows, min_count), hide_index=True, width="stretch", key="dist_table")
        st.download_button(
            f"Download {name} as CSV",
            frame_to_csv(charts.flag_rare(rows, min_count)),
            file_name=f"{name}_counts.csv",
            mime="text/csv",
            key="dist_csv_category",
            icon=":material/download:",
        )


def _rare_note(rare: pd.DataFrame, min_count: int) -> None:
    if rare.empty:
        st.success(f"Every value has at least {min_count:,} images.", icon=":material/check_circle:")
        return
    listed = ", ".join(f"**{plain(v)}** ({c:,})" for v, c in zip(rare["value"], rare["count"]))
    st.warning(f"{len(rare)} value(s) under {min_count:,} images: {listed}", icon=":material/warning:")


def _cooccurrence(name: str, matrix: pd.DataFrame) -> None:
    st.subheader("Class co-occurrence")
    norm = (
        st.segmented_control(
            "Cells",
            list(NORMALIZE_LABELS),
            format_func=NORMALIZE_LABELS.get,
            default="count",
            key="dist_co_normalize",
        )
        or "count"
    )
    st.plotly_chart(
        charts.cooccurrence_figure(matrix, normalize=norm, title=f"{name}: images with both classes"),
        key="dist_cooccurrence",
    )
    st.caption(
        "The diagonal is each class's positives. *Share of the row class*: of the images with "
        "the row's class, the share that also have the column's."
    )


def main(ctx: PageContext) -> None:
    store, info = ctx.store, ctx.require_dataset()
    version = tuple(store.labels_version(info.name))
    schema, table, co, map_name, map_version = _distribution(str(store.db_path), info.name, version)
    through = f"through label map **{plain(map_name)}** (version {map_version})" if map_name else "no label map"
    st.caption(f"Current labels of **{plain(info.name)}** (originals plus edits), {through}.")
    if int(table.groupby("category")["images"].first().sum()) == 0:
        st.info("This dataset has no labels yet.", icon=":material/info:")
        st.stop()
    order, metric, min_count = _controls(charts.default_min_count(table))
    _category(schema, table, co, order, metric, min_count)
    _summary(schema, table, min_count)
    st.download_button(
        "Download all counts as CSV",
        frame_to_csv(charts.flag_rare(table, min_count)),
        file_name=f"{info.name}_label_counts.csv",
        mime="text/csv",
        key="dist_csv_all",
        icon=":material/download:",
    )


run_page(main, title="Distribution")
