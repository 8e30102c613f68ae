"""Every message a page renders as markdown shows data through ``ui.text.plain``.

Streamlit reads markdown in messages, captions and titles, so a label value, name, path or error
text put there unescaped can render as a link or an image that loads an outside URL. This test
reads the source of every page and UI module: an interpolated value must be ``plain(...)``, carry a
number format, or be one of the few names below that hold numbers, constants or text that is
already escaped where it is built.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ui.text import plain

REPO = Path(__file__).resolve().parents[2]
RENDERS = {"markdown", "caption", "success", "error", "warning", "info", "toast", "write", "subheader",
           "header", "title"}
SAFE_CALLS = {"plain", "len", "int", "float", "round"}
# Numbers, ids, fixed texts, and messages escaped where they are built (flash, the last review).
KNOWN_SAFE = {
    "image_id", "item.image_id", "i", "row.image_id", "row.rank", "DATA_ROOTS_ENV", "ECE_TARGET", "last['image_id']", "report.images", "size", "state", "run_id",
    "info.created_at", "shown", "listed", "through", "source", "message", "msg", "last['message']",
    "job.queue_position or '?'", "SETTINGS.retrain_every", "assist.new_labels(get_store(), info.name, model)",
    "comparison['images']", "describe_devices()", "title", "caption", "NO_DATASET", "PRIVATE_WARNING",
    "identity.role", "tuned.get('metric', '?').upper()",
    "report.data.get('evaluated_at', '-')[:16].replace('T', ' ')",
    "str(report.get('created_at', '-'))[:16].replace('T', ' ')",
    "report.get('val_unfamiliar', 0)",
}


def _unsafe(node: ast.AST) -> list[str]:
    """Interpolated parts of a message argument that are not known to be safe."""
    if isinstance(node, ast.Constant):
        return []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SAFE_CALLS:
        return []
    if isinstance(node, ast.JoinedStr):
        return [bad for v in node.values for bad in _unsafe(v)]
    if isinstance(node, ast.FormattedValue):
        return [] if node.format_spec is not None else _unsafe(node.value)
    if isinstance(node, ast.BinOp):
        return _unsafe(node.left) + _unsafe(node.right)
    if isinstance(node, ast.IfExp):
        return _unsafe(node.body) + _unsafe(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
        return [bad for a in node.args for bad in _unsafe(getattr(a, "elt", a))]
    text = ast.unparse(node)
    return [] if text in KNOWN_SAFE else [text]


def _violations() -> list[str]:
    found = []
    for path in sorted([*REPO.glob("pages/*.py"), *REPO.glob("ui/*.py"), REPO / "app.py"]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "st"
                    and node.func.attr in RENDERS and node.args):
                found += [f"{path.relative_to(REPO)}:{node.lineno}: {bad}" for bad in _unsafe(node.args[0])]
    return found


def test_every_rendered_message_shows_data_as_text() -> None:
    assert _violations() == []


def test_the_rule_catches_an_unescaped_value() -> None:
    tree = ast.parse('st.error(f"Label {value} is odd")').body[0].value
    assert _unsafe(tree.args[0]) == ["value"]
    assert _unsafe(ast.parse('st.error(f"Label {plain(value)}: {n:,}")').body[0].value.args[0]) == []


def test_plain_neutralises_markdown_and_html() -> None:
    hostile = "![x](https://elsewhere.example/pixel) <img src=x onerror=alert(1)> **bold** [link](javascript:x)"
    shown = plain(hostile)
    assert "<" not in shown and ">" not in shown
    for mark in "![]()*":
        assert all(shown[i - 1] == "\\" for i, ch in enumerate(shown) if ch == mark)
