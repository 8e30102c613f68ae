"""Download page (AppTest): start a download of a list on a 127.0.0.1 server, watch it, cancel, import."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from fashion_core.download import DownloadConfig, download_images
from tests.app.conftest import Studio
from tests.conftest import shown
from tests.core.download.test_download_jobs import GOOD_IDS, flags, serve, write_good_list
from ui import state

PAGE = "pages/download.py"


def _texts(elements) -> str:
    return "\n".join(shown(e.value) for e in elements)


def _rerun_until(at: AppTest, text: str, seconds: float = 30.0) -> AppTest:
    """Rerun the page (as the fragment's polling would) until a success or warning shows ``text``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        if text in _texts(at.success) + _texts(at.warning):
            return at
        time.sleep(0.2)
    raise AssertionError(
        f"{text!r} not shown within {seconds} s; shown: {_texts(at.success)} {_texts(at.warning)}"
    )


def _frame_with(at: AppTest, column: str):
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no dataframe with a column {column!r}")


def _start(at: AppTest, list_path: Path, *, workers: int = 4) -> str:
    at.file_uploader(key="download_upload").upload(list_path.name, list_path.read_bytes(), "text/csv").run()
    at.number_input(key="download_workers").set_value(workers).run()
    at.checkbox(key="download_allow_private").check().run()
    at.button(key="download_start").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    return at.session_state["download_job"]


def test_page_starts_empty_and_explains_private_addresses(studio: Studio, open_page) -> None:
    at = open_page(PAGE)
    assert not at.exception
    assert at.title[0].value == "Download"
    assert "No download yet" in _texts(at.info)
    assert at.button(key="download_start").disabled  # no list chosen yet
    assert "Private addresses allowed" not in _texts(at.warning)
    at.checkbox(key="download_allow_private").check().run()
    assert "Link-local addresses (cloud metadata) stay refused" in _texts(at.warning)
    assert not at.exception


def test_download_from_the_page_then_import_it_as_a_dataset(
    studio: Studio, open_page, tmp_path: Path
) -> None:
    with serve() as site:
        listed = write_good_list(tmp_path / "styles.csv", site.base)
        at = open_page(PAGE)
        job_id = _start(at, listed)
        at = _rerun_until(at, "Download finished")
    out = studio.workspace.downloads_dir / "styles"  # the default folder: the list's stem
    assert sorted(p.name for p in out.glob("*.jpg")) == sorted(f"{i}.jpg" for i in GOOD_IDS)
    assert "4 downloaded, 2 failed, 0 already there, of 6 rows" in _texts(at.warning)
    reasons = _frame_with(at, "reason")
    assert _frame_with(at, "rows").set_index("reason")["rows"].to_dict() == {"http 404": 1, "bad row": 1}
    failures = _frame_with(at, "url")
    assert failures["id"].tolist() == ["missing", "broken"] and not reasons.empty
    assert at.text_input(key=f"download_dataset_{job_id}").value == "styles"

    at.button(key=f"download_import_{job_id}").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert "Imported dataset **styles**: 4 images, 6 rows read, 2 rejected." in _texts(at.success)
    rejected = _frame_with(at, "file")
    assert any(
        r.startswith("image file missing: missing.jpg (download failed: http 404") for r in rejected["reason"]
    )
    assert sorted(studio.store.images("styles")["path"]) == sorted(f"{i}.jpg" for i in GOOD_IDS)
    assert studio.store.dataset("styles").images_root == out

    at.button(key=f"download_import_{job_id}").click().run()  # again: the name is taken
    assert "already exists" in _texts(at.error)
    at.button(key=f"download_browse_{job_id}").click().run()
    assert not at.exception
    assert at.session_state[state.DATASET] == "styles"  # the sidebar now shows the new dataset ...
    assert at.title[0].value == "Browse"  # ... on the Browse page


def test_cancel_from_the_page(studio: Studio, open_page, tmp_path: Path) -> None:
    with serve(delay=0.3) as site:
        listed = tmp_path / "slow.csv"
        listed.write_text("\n".join(f"s{n},{site.base}/slow/{n}.jpg,{flags(3)}" for n in range(40)) + "\n")
        at = open_page(PAGE)
        job_id = _start(at, listed, workers=1)
        assert at.button(key=f"download_cancel_{job_id}")  # shown while it runs
        at.button(key=f"download_cancel_{job_id}").click().run()
        assert not at.exception
        at = _rerun_until(at, "Download cancelled", seconds=15)
    assert "of 40 rows" in _texts(at.warning)
    assert _frame_with(at, "rows").set_index("reason")["rows"].get("cancelled", 0) > 20


def test_a_bad_list_shows_an_error_and_no_server_path_is_asked(studio: Studio, open_page, tmp_path: Path) -> None:
    at = open_page(PAGE)
    assert not [t for t in at.text_input if t.key == "download_list_path"]  # an upload only
    at.file_uploader(key="download_upload").upload("bad.csv", b"\x00\x01\x02binary", "text/csv").run()
    at.button(key="download_start").click().run()
    assert not at.exception
    assert "bad.csv" in _texts(at.error)
    assert "No download yet" in _texts(at.info)
    at.text_input(key="download_out").set_value("../../../etc").run()  # a name, kept inside downloads
    assert f"go to {studio.workspace.downloads_dir}" in _texts(at.caption)


def test_an_earlier_download_folder_shows_its_failures_and_imports(
    studio: Studio, open_page, tmp_path: Path, monkeypatch
) -> None:
    with serve() as site:
        listed = write_good_list(tmp_path / "cli.csv", site.base)
        download_images(listed, tmp_path / "cli_out", config=DownloadConfig(workers=2, allow_private=True))
    at = open_page(PAGE)
    at.text_input(key="download_earlier_out").set_value(str(tmp_path / "cli_out")).run()
    assert "is outside the folders the studio may use" in _texts(at.error)  # not a data root yet
    monkeypatch.setenv("FASHION_STUDIO_DATA_ROOTS", str(tmp_path))
    at.text_input(key="download_earlier_out").set_value("/etc").run()
    assert "is outside the folders the studio may use" in _texts(at.error)
    at.text_input(key="download_earlier_out").set_value(str(tmp_path / "cli_out")).run()
    assert not at.exception
    assert "6 rows · 4 ok · 2 failed · 0 skipped" in _texts(at.caption)
    assert _frame_with(at, "url")["id"].tolist() == ["missing", "broken"]
    at.text_input(key="download_earlier_list").set_value(str(listed)).run()
    at.button(key="download_import_earlier").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert "Imported dataset **cli**: 4 images" in _texts(at.success)
    at.text_input(key="download_earlier_out").set_value(str(tmp_path / "empty")).run()
    assert "no download manifest here" in _texts(at.error)
