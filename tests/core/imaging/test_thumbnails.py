"""Tests of the thumbnail cache: made once, in parallel, atomically; nothing outside the roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from fashion_core.errors import FashionCoreError, ImageError
from fashion_core.imaging import ThumbnailCache, ensure_thumbnails, served_file
from fashion_core.imaging.thumbnails import (
    UnsafePathError,
    make_thumbnail,
    safe_path,
    thumbnail_file,
    thumbnail_key,
)
from tests.conftest import write_image


@pytest.fixture
def images_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i in range(16):
        write_image(root / f"cat{i % 2}" / f"{i:02d}.jpg", size=(24 + i, 24), seed=i)
    return root


@pytest.fixture
def cache(tmp_path: Path) -> ThumbnailCache:
    return ThumbnailCache(tmp_path / "ws" / "thumbnails", size=16)


def _paths(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))


def test_ensure_thumbnails_makes_each_once_and_reports_progress(cache, images_root):
    calls: list[tuple[int, int]] = []
    report = ensure_thumbnails(
        cache, 1, images_root, _paths(images_root), workers=4, on_progress=lambda d, t: calls.append((d, t))
    )
    assert report.made == 16 and not report.problems
    assert calls[0] == (0, 16) and calls[-1] == (16, 16)
    for thumb in report.thumbnails.values():
        assert thumb.is_relative_to(cache.root)
        with Image.open(thumb) as im:
            assert max(im.size) == 16 and im.format == "JPEG"
    again = ensure_thumbnails(
        cache, 1, images_root, _paths(images_root), on_progress=lambda d, t: calls.append((-1, -1))
    )
    assert again.made == 0 and again.thumbnails == report.thumbnails
    assert (-1, -1) not in calls  # nothing to make: no progress bar
    leftovers = [p for p in cache.root.rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_changed_image_gets_a_new_thumbnail(cache, images_root):
    first = thumbnail_file(cache, 1, images_root, "cat0/00.jpg")
    ensure_thumbnails(cache, 1, images_root, ["cat0/00.jpg"])
    write_image(images_root / "cat0" / "00.jpg", size=(40, 30), seed=99)
    os.utime(images_root / "cat0" / "00.jpg", ns=(1, 1_000_000_000))
    second = thumbnail_file(cache, 1, images_root, "cat0/00.jpg")
    assert second != first and not second.exists()
    report = ensure_thumbnails(cache, 1, images_root, ["cat0/00.jpg"])
    assert report.made == 1 and report.thumbnails["cat0/00.jpg"] == second


def test_key_depends_on_dataset_path_size_mtime_and_thumb_size():
    base = thumbnail_key(1, "a.jpg", 100, 5, 192)
    others = [
        thumbnail_key(2, "a.jpg", 100, 5, 192),
        thumbnail_key(1, "b.jpg", 100, 5, 192),
        thumbnail_key(1, "a.jpg", 101, 5, 192),
        thumbnail_key(1, "a.jpg", 100, 6, 192),
        thumbnail_key(1, "a.jpg", 100, 5, 256),
    ]
    assert base == thumbnail_key(1, "a.jpg", 100, 5, 192)
    assert len({base, *others}) == 6


def test_broken_and_missing_images_are_reported_not_raised(cache, images_root):
    (images_root / "broken.jpg").write_text("not a jpeg")
    report = ensure_thumbnails(cache, 1, images_root, ["cat0/00.jpg", "broken.jpg", "gone.jpg"])
    assert set(report.thumbnails) == {"cat0/00.jpg"}
    assert "broken.jpg" in report.problems and "not an image" in report.problems["broken.jpg"]
    assert "missing" in report.problems["gone.jpg"]
    assert not list(cache.root.rglob(".tmp-*"))


def test_make_thumbnail_failure_leaves_no_file(tmp_path):
    src = tmp_path / "x.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    target = tmp_path / "out" / "t.jpg"
    with pytest.raises(ImageError):
        make_thumbnail(src, target, size=16)
    assert not target.exists()


@pytest.mark.parametrize("bad", ["../../etc/passwd", "../images2/x.jpg", "/etc/passwd", "cat0/../../x.jpg"])
def test_paths_leaving_the_root_are_refused(images_root, cache, bad):
    with pytest.raises(UnsafePathError) as info:
        safe_path(images_root, bad)
    assert isinstance(info.value, FashionCoreError)
    report = ensure_thumbnails(cache, 1, images_root, [bad])
    assert report.thumbnails == {} and "outside" in report.problems[bad]


def test_symlink_out_of_the_root_is_refused(tmp_path, images_root, cache):
    secret = write_image(tmp_path / "outside" / "secret.jpg")
    (images_root / "link.jpg").symlink_to(secret)
    (images_root / "dirlink").symlink_to(secret.parent, target_is_directory=True)
    for rel in ("link.jpg", "dirlink/secret.jpg"):
        with pytest.raises(UnsafePathError):
            safe_path(images_root, rel)
        assert "outside" in ensure_thumbnails(cache, 1, images_root, [rel]).problems[rel]
    # A symlink that stays inside the root is fine.
    (images_root / "inner.jpg").symlink_to(images_root / "cat0" / "00.jpg")
    assert safe_path(images_root, "inner.jpg") == (images_root / "cat0" / "00.jpg").resolve()


def test_served_file_only_from_allowed_roots(tmp_path, cache, images_root):
    report = ensure_thumbnails(cache, 1, images_root, ["cat1/01.jpg"])
    thumb = report.thumbnails["cat1/01.jpg"]
    assert served_file(thumb, [cache.root]) == thumb.resolve()
    assert served_file(images_root / "cat1" / "01.jpg", [cache.root, images_root]).is_file()
    with pytest.raises(UnsafePathError):
        served_file(images_root / "cat1" / "01.jpg", [cache.root])
    cache.root.mkdir(parents=True, exist_ok=True)
    (cache.root / "evil.jpg").symlink_to(images_root / "cat1" / "01.jpg")
    with pytest.raises(UnsafePathError):
        served_file(cache.root / "evil.jpg", [cache.root])
    with pytest.raises(UnsafePathError):
        served_file(cache.root / ".." / ".." / "images" / "cat1" / "01.jpg", [cache.root])


@pytest.mark.parametrize("kwargs", [{"size": 0}, {"size": 5000}, {"quality": 0}, {"quality": 101}])
def test_cache_config_is_validated(tmp_path, kwargs):
    with pytest.raises(ValueError, match="Received"):
        ThumbnailCache(tmp_path, **kwargs)
