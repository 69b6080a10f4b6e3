"""ImageNet end to end on generated archives in the three real layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import build
from pipeline.acquire.download import RetryPolicy
from pipeline.errors import ManualDownloadRequired
from pipeline.store.shards import load_manifest, read_split
from pipeline.sources.imagenet import ImageNet
from tests.fixtures.imagenet_upstream import SORTED, write_kaggle, write_official, write_parquet

FAST = RetryPolicy(attempts=2, base=0.01, cap=0.02)


def dataset(data: Path) -> Path:
    return data / "shards" / "imagenet" / "ILSVRC2012" / "classification"


def labels_by_path(data: Path) -> dict[str, tuple[str, int, str]]:
    rows = read_split(dataset(data), columns=["image", "synset", "label"]).to_pylist()
    return {r["image"]["path"]: (r["synset"], r["label"], "") for r in rows}


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    expected = write_official(root)
    data = tmp_path_factory.mktemp("data-official")
    build.build(ImageNet(data_dir=data, manual_dir=str(root), size=48, images_per_part=5), data, progress=False,
                max_workers=2)
    return data, expected


def test_official_tars_are_read_in_place_with_sorted_class_indices(official):
    data, expected = official
    rows = read_split(dataset(data)).to_pylist()
    train = {f"{r['synset']}/{r['image']['path']}": r for r in rows if r["image"]["path"].startswith("n")}
    assert set(train) == set(expected.train)
    for row in rows:
        assert row["label"] == SORTED.index(row["synset"])
        assert min(row["width"], row["height"]) == 48
        assert row["original_width"] >= 80
    classes = json.loads((dataset(data) / "classes.json").read_text())
    assert [c["synset"] for c in classes] == SORTED and classes[0]["name"] == "tench"


def test_devkit_labels_follow_the_devkit_id_order(official):
    data, expected = official
    val = read_split(dataset(data), "validation", ["image", "synset"]).to_pylist()
    assert {r["image"]["path"]: r["synset"] for r in val} == expected.val


def test_quirks_and_hostile_members_are_counted(official):
    data, expected = official
    manifest = load_manifest(dataset(data))
    assert manifest["totals"]["drops"] == expected.drops
    assert set(manifest["splits"]) == {"train", "validation"}
    assert not list(data.rglob("evil.JPEG")), "member paths are never used to write"
    assert len(manifest["parts"]) == 4 + 3, "one part per synset tar, validation in runs of 5"


def test_hugging_face_datasets_loads_images(official):
    import datasets

    data, _ = official
    loaded = datasets.load_dataset(str(dataset(data)), split="validation", cache_dir=str(data / "hf-cache"))
    assert isinstance(loaded.features["image"], datasets.Image)
    assert loaded.features["label"].names[0] == "tench"
    first = loaded[0]["image"]
    assert first.mode == "RGB" and min(first.size) == 48


def test_kaggle_layout_gives_the_same_labels(official, tmp_path):
    data, expected = official
    root = tmp_path / "kaggle"
    write_kaggle(root)
    out = tmp_path / "data"
    build.build(ImageNet(data_dir=out, manual_dir=str(root), size=48), out, progress=False, max_workers=1)
    ours = {r["image"]["path"]: r["label"] for r in read_split(dataset(out), "validation", ["image", "label"]).to_pylist()}
    theirs = {r["image"]["path"]: r["label"] for r in read_split(dataset(data), "validation", ["image", "label"]).to_pylist()}
    assert ours == theirs and len(ours) == len(expected.val)
    assert load_manifest(dataset(out))["totals"]["drops"] == {"truncated": 1}


def test_parquet_layout(tmp_path):
    write_parquet(tmp_path / "hf")
    out = tmp_path / "data"
    build.build(ImageNet(data_dir=out, manual_dir=str(tmp_path / "hf"), size=32), out, progress=False, max_workers=1)
    manifest = load_manifest(dataset(out))
    assert manifest["splits"]["train"]["rows"] == 24 and manifest["splits"]["validation"]["rows"] == 12
    names = {r["class_name"] for r in read_split(dataset(out), columns=["class_name"]).to_pylist()}
    assert "tench" in names and not any("," in n for n in names), "the same class names as the official layout"


def test_hugging_face_layout_names_classes_like_the_official_one(official, tmp_path):
    data, _ = official
    write_parquet(tmp_path / "hf")
    out = tmp_path / "data"
    build.build(ImageNet(data_dir=out, manual_dir=str(tmp_path / "hf"), size=32), out, progress=False, max_workers=1)
    ours = [c["name"] for c in json.loads((dataset(out) / "classes.json").read_text())]
    assert ours == [c["name"] for c in json.loads((dataset(data) / "classes.json").read_text())]


def test_holdout_by_content_hash(tmp_path):
    root = tmp_path / "official"
    write_official(root, per_class=20, ugly=False)
    out = tmp_path / "data"
    build.build(ImageNet(data_dir=out, manual_dir=str(root), size=32, holdout=0.25), out, progress=False, max_workers=1)
    splits = load_manifest(dataset(out))["splits"]
    assert 5 <= splits["heldout"]["rows"] <= 35 and splits["train"]["rows"] + splits["heldout"]["rows"] == 80


def test_missing_files_name_what_to_put_where(tmp_path):
    with pytest.raises(ManualDownloadRequired) as err:
        build.discover(ImageNet(data_dir=tmp_path, manual_dir=str(tmp_path)))
    message = str(err.value)
    assert "ILSVRC2012_img_train.tar" in message and "147,897,477,120 bytes" in message
    assert "LOC_val_solution.csv" in message and str(tmp_path) in message
    (tmp_path / "ILSVRC2012_img_val.tar").write_bytes(b"")
    with pytest.raises(ManualDownloadRequired, match="needs its labels"):
        build.discover(ImageNet(data_dir=tmp_path, manual_dir=str(tmp_path)))


def test_entitled_url_with_credentials_that_never_leak(server, tmp_path, monkeypatch, caplog):
    token = "Bearer s3cret-t0ken"
    monkeypatch.setenv("DATAMILL_IMAGENET_AUTH", token)
    source = ImageNet(data_dir=tmp_path, mirror=server.url + "fault/auth/x/imagenet/", size=32,
                      official_checksums=False)
    build.build(source, tmp_path, progress=False, policy=FAST, max_workers=1)
    assert load_manifest(dataset(tmp_path))["totals"]["rows"] > 30
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".txt"):
            assert "s3cret" not in path.read_text(errors="replace"), path
    assert "s3cret" not in caplog.text
    monkeypatch.delenv("DATAMILL_IMAGENET_AUTH")
    with pytest.raises(Exception, match="401"):
        build.build(ImageNet(data_dir=tmp_path / "other", mirror=server.url + "fault/auth/x/imagenet/",
                             official_checksums=False), tmp_path / "other", progress=False, policy=FAST)


def test_cli_manual_dir_and_missing_files(upstream, tmp_path):
    from tests.test_cli import datamill

    got = datamill("build", "imagenet", "--manual-dir", str(upstream / "imagenet"), "--data-dir", str(tmp_path),
                   "--size", "32", "--quiet")
    assert got.returncode == 0, got.stderr
    assert "imagenet/classification ILSVRC2012: 39 rows (train 27, validation 12); dropped 3" in got.stdout
    got = datamill("download", "imagenet", "--data-dir", str(tmp_path / "none"))
    assert got.returncode == 1 and "ILSVRC2012_img_train.tar" in got.stderr and "Traceback" not in got.stderr


def test_card_has_plots(official):
    data, _ = official
    import re

    card = (dataset(data) / "README.md").read_text()
    for name in ("images", "labels", "drops"):
        # Plots belong to the snapshot they describe: _plots/<snapshot id>/<name>.png.
        found = re.search(rf"\((_plots/[^)/]+/{name}\.png)\)", card)
        assert found, f"{name} plot not in the card"
        assert (dataset(data) / found.group(1)).stat().st_size > 1000


def test_tar_members_over_the_size_cap_are_rejected_unread():
    import io
    import tarfile

    from pipeline.store.shards import Rejects
    from pipeline.sources.imagenet import _tar_images

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, size in (("small.JPEG", 100), ("huge.JPEG", 50_000)):
            info = tarfile.TarInfo(name)
            info.size = size
            archive.addfile(info, io.BytesIO(b"x" * size))
    buffer.seek(0)
    rejects = Rejects("p")
    got = list(_tar_images(buffer, "n0.tar", rejects, max_bytes=10_000))
    assert [name for name, _ in got] == ["small.JPEG"] and dict(rejects.counts) == {"too_large": 1}


def test_kaggle_val_folder_does_not_follow_symlinks(tmp_path):
    import csv

    root = tmp_path / "kaggle"
    write_kaggle(root, ugly=False)
    secret = tmp_path / "outside.JPEG"
    val = root / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    secret.write_bytes(next(val.iterdir()).read_bytes())
    (val / "ILSVRC2012_val_00009999.JPEG").symlink_to(secret)
    with open(root / "LOC_val_solution.csv", "a", newline="") as handle:
        csv.writer(handle).writerow(["ILSVRC2012_val_00009999", f"{SORTED[0]} 1 1 2 2"])
    out = tmp_path / "data"
    build.build(ImageNet(data_dir=out, manual_dir=str(root), size=32), out, progress=False, max_workers=1)
    paths = {r["image"]["path"] for r in read_split(dataset(out), "validation", ["image"]).to_pylist()}
    assert "ILSVRC2012_val_00009999.JPEG" not in paths
    assert load_manifest(dataset(out))["totals"]["drops"].get("not_a_file") == 1


def test_sixteen_bit_png_keeps_its_brightness():
    import io

    import numpy as np
    from PIL import Image

    from pipeline.formats.images import process

    for pixels in (np.full((20, 30), 32768, np.uint16), np.full((20, 30), 32768, ">u2")):  # I;16 and I;16B
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        assert Image.open(io.BytesIO(buffer.getvalue())).mode.startswith("I")
        out = process(buffer.getvalue())
        mean = np.asarray(Image.open(io.BytesIO(out.data))).mean()
        assert 120 < mean < 136, f"half brightness, got {mean}"


def test_manual_tars_are_md5_checked_against_the_published_list(tmp_path, monkeypatch):
    import hashlib

    from pipeline.formats import imagenet as L
    from pipeline.formats.imagenet import verify_manual

    good = b"devkit bytes"
    (tmp_path / L.DEVKIT).write_bytes(good)
    monkeypatch.setitem(L.OFFICIAL, L.DEVKIT, (len(good), hashlib.md5(good).hexdigest()))
    assert verify_manual(tmp_path) == []
    (tmp_path / L.DEVKIT).write_bytes(b"devkit bytez")
    problems = verify_manual(tmp_path)
    assert len(problems) == 1 and "md5" in problems[0] and L.DEVKIT in problems[0]
    (tmp_path / L.DEVKIT).write_bytes(b"short")
    assert "bytes" in verify_manual(tmp_path)[0]
