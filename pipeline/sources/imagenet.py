"""ImageNet (ILSVRC-2012) → labelled, resized JPEG shards in the Hugging Face Image layout.

Gated everywhere, so nothing is fetched anonymously: a manual directory (official tars,
Kaggle folders or Hugging Face Parquet), a URL the user is entitled to (credentials from
the environment or a file, never logged or recorded), or the Hugging Face repo with the
user's token. Parts: one per synset tar inside the train tar (read in place, never
extracted), runs of validation images, one per Parquet file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.formats import imagenet as L
from pipeline.acquire.download import Downloader, RemoteFile
from pipeline.errors import ConfigError, ManualDownloadRequired, SourceError
from pipeline.formats.images import ImageOptions, ImageRejected, process
from pipeline.store.location import Location
from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, Rejects
from pipeline.sources.base import DataRoot, LocalFiles, Release
from pipeline.store.splits import SplitAssigner

log = logging.getLogger(__name__)

VERSION = "ILSVRC2012"
HF_REPO = "ILSVRC/imagenet-1k"
LICENSE = ("ImageNet terms of access: non-commercial research and educational use only "
           "(https://image-net.org/download). Images belong to their owners.")
BATCH = 256
MAX_IMAGE_BYTES = 64 << 20  # the largest ILSVRC-2012 image is ~15 MB; a bigger member is never read into memory
_VAL_NAME = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$")


def schema(class_names: list[str]) -> pa.Schema:
    """The output schema; its metadata tells `datasets` that ``image`` is an Image and ``label`` a ClassLabel."""
    features = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": class_names},
                "synset": {"dtype": "string", "_type": "Value"}, "class_name": {"dtype": "string", "_type": "Value"},
                **{c: {"dtype": "int32", "_type": "Value"}
                   for c in ("width", "height", "original_width", "original_height")}}
    return pa.schema([
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), ("label", pa.int64()),
        ("synset", pa.string()), ("class_name", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
        ("original_width", pa.int32()), ("original_height", pa.int32()),
    ], metadata={"huggingface": json.dumps({"info": {"features": features}})})


def credentials(credentials_file: str | None) -> dict[str, str]:
    """An Authorization header from the environment or a file; the value is never logged."""
    if os.environ.get("DATAMILL_IMAGENET_AUTH"):
        return {"Authorization": os.environ["DATAMILL_IMAGENET_AUTH"]}
    user, password = os.environ.get("DATAMILL_IMAGENET_USER"), os.environ.get("DATAMILL_IMAGENET_PASSWORD")
    if credentials_file:
        text = Path(credentials_file).expanduser().read_text().strip()
        if ":" in text and not text.lower().startswith(("bearer ", "basic ")):
            user, _, password = text.partition(":")
        else:
            return {"Authorization": text if " " in text else f"Bearer {text}"}
    if user and password:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    return {}


class ImageNet(LocalFiles):
    """The ImageNet source (see the module docstring)."""

    name = "imagenet"
    license = LICENSE
    datasets = ("classification",)
    release_prefix = ""

    def __init__(self, data_dir: DataRoot | Path | str = "data", mirror: str | None = None, manual_dir: str | None = None,
                 credentials_file: str | None = None, hf: bool = False, size: int = 256, quality: int = 90,
                 holdout: float = 0.0, images_per_part: int = 2500, max_pixels: int = 100_000_000,
                 official_checksums: bool = True, target_shard_bytes: int = 256 << 20,
                 splits: dict[str, float] | None = None) -> None:
        if size < 0 or not 1 <= quality <= 100 or not 0 <= holdout < 1:
            raise ConfigError("--size must be >= 0, --quality 1..100 and --holdout in [0, 1)")
        self.data_dir = DataRoot.of(data_dir)
        self.mirror = mirror.rstrip("/") + "/" if mirror else None
        self.manual_dir = Path(manual_dir).expanduser().resolve() if manual_dir else None
        self.credentials_file, self.hf = credentials_file, hf
        self.image_options = ImageOptions(size, quality, max_pixels)
        self.holdout = holdout
        self.images_per_part = max(1, images_per_part)
        self.official_checksums = official_checksums
        self.target_shard_bytes = target_shard_bytes
        self._classes: list[tuple[str, str]] | None = None

    def local_version(self, version: str | None) -> str | None:
        return None if version in (None, "latest") else version

    # -- acquisition --------------------------------------------------------------------

    def discover(self, downloader: Downloader, version: str | None = None) -> Release:
        if self.manual_dir is not None:
            layout = L.detect(self.manual_dir)
            return Release(self.name, VERSION, (), {"layout": layout.kind, "root": str(layout.root)})
        if self.mirror:
            names = [L.TRAIN_TAR, L.VAL_TAR, L.DEVKIT]
            files = tuple(RemoteFile(self.mirror + n, n, L.OFFICIAL[n][0] if self.official_checksums else None,
                                     f"md5:{L.OFFICIAL[n][1]}" if self.official_checksums else None) for n in names)
            return Release(self.name, VERSION, files, {"layout": "official", "root": None, "auth": "header"})
        if self.hf:
            return Release(self.name, VERSION, (), {"layout": "parquet", "root": None, "hf": HF_REPO})
        raise L.missing_files(Path(str(self.data_dir.path)) / "manual" / "imagenet", "no --manual-dir, --mirror or --hf given")

    def request_headers(self) -> dict[str, str]:
        return credentials(self.credentials_file) if self.mirror else {}

    def fetch_extra(self, release: Release, target: Path) -> None:
        """The Hugging Face path: snapshot the repo's Parquet files into the raw directory."""
        if not release.meta.get("hf"):
            return
        from huggingface_hub import snapshot_download

        token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
        try:
            snapshot_download(HF_REPO, repo_type="dataset", allow_patterns=["data/train-*", "data/validation-*"],
                              local_dir=target, token=token)
        except Exception as err:  # noqa: BLE001 - hub errors come in many types; the message is what matters
            raise ManualDownloadRequired(
                f"could not fetch {HF_REPO} from the Hugging Face Hub ({type(err).__name__}). Accept the terms at "
                f"https://huggingface.co/datasets/{HF_REPO}, set HF_TOKEN, or place the Parquet files in a "
                f"folder and pass --manual-dir.") from None

    # -- parts ------------------------------------------------------------------------------

    def spec(self, dataset: str, release: Release, shards_dir: Path) -> DatasetSpec:
        if dataset != "classification":
            raise ConfigError(f"imagenet has the dataset 'classification', not {dataset!r}")
        classes = self.classes(release)
        config = {"size": self.image_options.size, "quality": self.image_options.quality,
                  "max_pixels": self.image_options.max_pixels, "holdout": self.holdout,
                  "images_per_part": self.images_per_part, "layout": release.meta["layout"],
                  "classes": len(classes), "class_index": "sorted synsets"}
        return DatasetSpec(
            root=shards_dir / self.name / release.version / dataset, source=self.name, dataset=dataset,
            version=release.version, schema=schema([n for _, n in classes]), config=config, license=LICENSE,
            description=f"ImageNet ILSVRC-2012 classification, {len(classes)} classes, shorter side "
                        f"{self.image_options.size or 'original'}.",
            target_shard_bytes=self.target_shard_bytes, row_group_bytes=min(64 << 20, self.target_shard_bytes),
            uncompressed_columns=("image",))

    def parts(self, dataset: str, release: Release) -> list[Part]:
        layout = self._layout(release)
        reader = {"official": self._official_parts, "kaggle": self._kaggle_parts, "parquet": self._parquet_parts}
        return reader[layout.kind](layout)

    def _official_parts(self, layout: L.Layout) -> list[Part]:
        parts = []
        if L.TRAIN_TAR in layout.files:
            train = layout.files[L.TRAIN_TAR]
            for member in _members(train):
                wnid = PurePosixPath(member.name).stem
                if not (member.isfile() and L.SYNSET.match(wnid) and member.name == f"{wnid}.tar"):
                    log.warning("%s: skipping unexpected member %r", train.name, member.name)
                    continue
                parts.append(Part(f"train-{wnid}", (_fingerprint(train),),
                                  {"kind": "synset_tar", "file": train.name, "offset": member.offset_data,
                                   "size": member.size, "synset": wnid}))
        if L.VAL_TAR in layout.files:
            val = layout.files[L.VAL_TAR]
            count = sum(1 for _ in _members(val))
            for k, first in enumerate(range(0, count, self.images_per_part)):
                parts.append(Part(f"val-{k:05d}", (_fingerprint(val),),
                                  {"kind": "val_tar", "file": val.name,
                                   "members": [first, min(first + self.images_per_part, count)]}))
        return parts

    def _kaggle_parts(self, layout: L.Layout) -> list[Part]:
        base = layout.root / L.KAGGLE_DIR
        parts = []
        for folder in sorted((base / "train").iterdir()) if (base / "train").is_dir() else []:
            if folder.is_dir() and L.SYNSET.match(folder.name):
                parts.append(Part(f"train-{folder.name}", (_dir_fingerprint(folder),),
                                  {"kind": "dir", "path": f"train/{folder.name}", "synset": folder.name}))
        val = sorted(p.name for p in (base / "val").iterdir()) if (base / "val").is_dir() else []
        for k, first in enumerate(range(0, len(val), self.images_per_part)):
            names = val[first: first + self.images_per_part]
            digest = hashlib.sha256("\n".join(names).encode()).hexdigest()
            parts.append(Part(f"val-{k:05d}", (PartInput("val/", digest),),
                              {"kind": "val_dir", "members": [first, first + len(names)]}))
        return parts

    def _parquet_parts(self, layout: L.Layout) -> list[Part]:
        parts = []
        for name, path in sorted(layout.files.items()):
            if name.endswith(".parquet") and (name.startswith("train") or name.startswith("validation")):
                split = "train" if name.startswith("train") else "validation"
                parts.append(Part(f"{split}-{name.removesuffix('.parquet')}", (_fingerprint(path),),
                                  {"kind": "parquet", "file": str(path.relative_to(layout.root)), "split": split}))
        return parts

    # -- classes ------------------------------------------------------------------------------

    def classes(self, release: Release) -> list[tuple[str, str]]:
        """(synset, class name) in class-index order: the sorted synsets."""
        if self._classes is None:
            layout = self._layout(release)
            names = L.synset_names(layout)
            synsets = set(names) or set(self._synsets_seen(layout))
            if not synsets and layout.kind == "parquet":
                # Hugging Face names hold every synonym ("tench, Tinca tinca"); the official layout keeps the first.
                self._classes = [(f"class{i}", n.split(",")[0].strip()) for i, n in enumerate(_hf_class_names(layout))]
                return self._classes
            self._classes = [(s, names.get(s, s).split(",")[0].strip()) for s in sorted(synsets)]
        return self._classes

    def _synsets_seen(self, layout: L.Layout) -> list[str]:
        if layout.kind == "official" and L.TRAIN_TAR in layout.files:
            return [PurePosixPath(m.name).stem for m in _members(layout.files[L.TRAIN_TAR])
                    if L.SYNSET.match(PurePosixPath(m.name).stem)]
        if layout.kind == "kaggle" and (layout.root / L.KAGGLE_DIR / "train").is_dir():
            return [p.name for p in (layout.root / L.KAGGLE_DIR / "train").iterdir() if L.SYNSET.match(p.name)]
        return sorted(set(L.val_labels(layout).values()))

    def write_extras(self, dataset: str, release: Release, root: Path) -> None:
        """The classes table ships with the dataset: classes.json (index, synset, name)."""
        table = [{"index": i, "synset": s, "name": n} for i, (s, n) in enumerate(self.classes(release))]
        Location(root).write_bytes("classes.json", (json.dumps(table, indent=1, ensure_ascii=False) + "\n").encode())

    # -- reading ------------------------------------------------------------------------------

    def read_part(self, dataset: str, part: Part, rejects: Rejects) -> Iterator[pa.Table]:
        release = self.load_release(VERSION)
        layout = self._layout(release)
        index = {s: i for i, (s, _) in enumerate(self.classes(release))}
        names = dict(self.classes(release))
        rows: list[dict[str, Any]] = []
        for path, data, synset, label, split in self._images(layout, part, index, rejects):
            row = self._row(path, data, synset, label, split, names, rejects)
            if row is not None:
                rows.append(row)
            if len(rows) >= BATCH:
                yield self._table(rows, release)
                rows = []
        if rows:
            yield self._table(rows, release)

    def _images(self, layout: L.Layout, part: Part, index: dict[str, int], rejects: Rejects
                ) -> Iterator[tuple[str, bytes, str, int, str]]:
        kind = part.options["kind"]
        if kind == "synset_tar":
            synset = part.options["synset"]
            with open(layout.root / part.options["file"], "rb") as raw:
                inner = _Slice(raw, part.options["offset"], part.options["size"])
                for name, data in _tar_images(inner, f"{synset}.tar", rejects):
                    yield name, data, synset, index[synset], "train"
        elif kind == "val_tar":
            labels = L.val_labels(layout)
            first, stop = part.options["members"]
            for name, data in _indexed_images(layout.files[L.VAL_TAR], first, stop, rejects):
                yield from _labelled(name, data, labels, index, rejects)
        elif kind == "dir":
            synset = part.options["synset"]
            for path in sorted((layout.root / L.KAGGLE_DIR / part.options["path"]).iterdir()):
                data = _plain_file(path, rejects)
                if data is not None:
                    yield f"{synset}/{path.name}", data, synset, index[synset], "train"
        elif kind == "val_dir":
            labels = L.val_labels(layout)
            first, stop = part.options["members"]
            folder = layout.root / L.KAGGLE_DIR / "val"
            for name in sorted(p.name for p in folder.iterdir())[first:stop]:
                data = _plain_file(folder / name, rejects)
                if data is not None:
                    yield from _labelled(name, data, labels, index, rejects)
        elif kind == "parquet":
            yield from self._parquet_images(layout, part, rejects)

    def _parquet_images(self, layout: L.Layout, part: Part, rejects: Rejects
                        ) -> Iterator[tuple[str, bytes, str, int, str]]:
        classes = self.classes(self.load_release(VERSION))
        split = part.options["split"]
        for batch in pq.ParquetFile(layout.root / part.options["file"]).iter_batches(columns=["image", "label"]):
            for image, label in zip(batch.column("image").to_pylist(), batch.column("label").to_pylist()):
                path = (image or {}).get("path") or ""
                if label is None or not 0 <= label < len(classes):
                    rejects.add(path, "no_label", f"label {label!r} outside 0..{len(classes) - 1}")
                    continue
                yield path, (image or {}).get("bytes") or b"", classes[label][0], label, split

    def _row(self, path: str, data: bytes, synset: str, label: int, split: str, names: dict[str, str],
             rejects: Rejects) -> dict[str, Any] | None:
        try:
            image = process(data, self.image_options)
        except ImageRejected as err:
            rejects.add(path, err.reason, str(err)[:500])
            return None
        if split == "train" and self.holdout:
            digest = hashlib.blake2b(data, digest_size=8).hexdigest()
            split = SplitAssigner({"heldout": self.holdout, "train": 1 - self.holdout}, salt="imagenet").of_key(digest)
        return {"image": {"bytes": image.data, "path": path}, "label": label, "synset": synset,
                "class_name": names.get(synset, synset), "width": image.width, "height": image.height,
                "original_width": image.original_width, "original_height": image.original_height,
                SPLIT_COLUMN: split}

    def _table(self, rows: list[dict[str, Any]], release: Release) -> pa.Table:
        target = schema([n for _, n in self.classes(release)]).append(pa.field(SPLIT_COLUMN, pa.string()))
        return pa.Table.from_pylist(rows, schema=target)

    # -- helpers --------------------------------------------------------------------------------

    def _layout(self, release: Release) -> L.Layout:
        root = Path(release.meta["root"]) if release.meta.get("root") else self.raw_dir(release)
        return L.detect(root)


def _labelled(name: str, data: bytes, labels: dict[str, str], index: dict[str, int], rejects: Rejects
              ) -> Iterator[tuple[str, bytes, str, int, str]]:
    synset = labels.get(name)
    if synset is None or synset not in index:
        rejects.add(name, "no_label", f"no known validation label for {name}")
        return
    yield name, data, synset, index[synset], "validation"


class _Slice:
    """A read-only window [start, start+size) of a file: an inner tar read in place."""

    def __init__(self, raw: BinaryIO, start: int, size: int) -> None:
        self.raw, self.start, self.size, self.pos = raw, start, size, 0

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        self.raw.seek(self.start + self.pos)
        data = self.raw.read(n)
        self.pos += len(data)
        return data


def _members(path: Path) -> list[tarfile.TarInfo]:
    """Headers of an uncompressed tar (seeks past the data: fast even for 138 GB)."""
    with tarfile.open(path, "r:") as archive:
        return archive.getmembers()


def _unsafe(member: tarfile.TarInfo, max_bytes: int = MAX_IMAGE_BYTES) -> tuple[str, str] | None:
    """Why a member must not be used (its path is never used to write anything anyway)."""
    name = member.name
    if name.startswith("/") or ".." in PurePosixPath(name).parts or "\\" in name:
        return "unsafe_path", f"member path escapes the archive: {name[:200]!r}"
    if not member.isfile():
        return "not_a_file", f"{name[:200]!r} is a link, device or folder"
    if member.size > max_bytes:
        return "too_large", f"{name[:200]!r} is {member.size:,} bytes (limit {max_bytes:,})"
    return None


def _plain_file(path: Path, rejects: Rejects, max_bytes: int = MAX_IMAGE_BYTES) -> bytes | None:
    """A folder entry's bytes, unless it is a link (never followed), not a file, or over the size cap."""
    if path.is_symlink() or not path.is_file():
        rejects.add(path.name, "not_a_file", "links and folders are not images")
        return None
    size = path.stat().st_size
    if size > max_bytes:
        rejects.add(path.name, "too_large", f"{size:,} bytes (limit {max_bytes:,})")
        return None
    return path.read_bytes()


def _tar_images(handle, archive_name: str, rejects: Rejects, max_bytes: int = MAX_IMAGE_BYTES
                ) -> Iterator[tuple[str, bytes]]:
    """(base name, bytes) of the regular files of a tar read as a stream; the rest is rejected."""
    try:
        with tarfile.open(fileobj=handle, mode="r|") as archive:
            for member in archive:
                problem = _unsafe(member, max_bytes)
                if problem:
                    rejects.add(member.name[:200], *problem)
                    continue
                file = archive.extractfile(member)
                yield PurePosixPath(member.name).name, file.read() if file else b""
    except (tarfile.TarError, EOFError, OSError) as err:
        rejects.add(archive_name, "corrupt_archive", f"{archive_name}: {err}")


def _indexed_images(path: Path, first: int, stop: int, rejects: Rejects) -> Iterator[tuple[str, bytes]]:
    """Members ``first..stop`` of a flat tar, read at their offsets (no scan from the start)."""
    with open(path, "rb") as raw:
        for member in _members(path)[first:stop]:
            problem = _unsafe(member)
            if problem:
                rejects.add(member.name[:200], *problem)
                continue
            raw.seek(member.offset_data)
            yield PurePosixPath(member.name).name, raw.read(member.size)


def _fingerprint(path: Path) -> PartInput:
    """Size and mtime stand in for a hash: re-hashing 150 GB on every run is not an option."""
    stat = path.stat()
    return PartInput(path.name, f"stat:{stat.st_size}:{stat.st_mtime_ns}")


def _dir_fingerprint(folder: Path) -> PartInput:
    entries = sorted((p.name, p.stat().st_size) for p in folder.iterdir())
    return PartInput(folder.name, hashlib.sha256(repr(entries).encode()).hexdigest())


def _hf_class_names(layout: L.Layout) -> list[str]:
    """Class names from the Hugging Face features metadata of the first Parquet file."""
    first = next(p for n, p in sorted(layout.files.items()) if n.endswith(".parquet"))
    metadata = pq.read_schema(first).metadata or {}
    try:
        features = json.loads(metadata[b"huggingface"])["info"]["features"]
        return list(features["label"]["names"])
    except (KeyError, ValueError) as err:
        raise SourceError(f"{first}: no class names in its metadata; add {L.MAPPING} beside it") from err
