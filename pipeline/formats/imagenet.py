"""Where the ImageNet files are and what their labels mean (official tars, Kaggle folders, Parquet).

Class index is the position of the synset in the sorted list of synsets (the TFDS / Keras
/ Kaggle / Hugging Face convention). The devkit's validation ground truth uses the
devkit's own ILSVRC2012_ID order instead; ``val_labels`` maps it through ``meta.mat`` so
both label sources give the same synset for the same image.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import ManualDownloadRequired, SourceError

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
SOLUTION = "LOC_val_solution.csv"
MAPPING = "LOC_synset_mapping.txt"
KAGGLE_DIR = "ILSVRC/Data/CLS-LOC"
SYNSET = re.compile(r"^n\d{8}$")
OFFICIAL = {  # name: (bytes, md5) as published for ILSVRC-2012
    TRAIN_TAR: (147_897_477_120, "1d675b47d978889d74fa0da5fadfb00e"),
    VAL_TAR: (6_744_924_160, "29b22e2961454d5413ddabcf34fc5622"),
    DEVKIT: (2_568_145, "fa75699e90414af021442c21a62c3abf"),
}


@dataclass
class Layout:
    """What a manual directory holds: its form and the files that matter."""

    kind: str  # "official", "kaggle" or "parquet"
    root: Path
    files: dict[str, Path] = field(default_factory=dict)


def detect(root: Path) -> Layout:
    """Recognise the form of ``root`` or raise ManualDownloadRequired saying what to put where."""
    if not root.is_dir():
        raise missing_files(root, f"{root} is not a directory")
    official = {n: root / n for n in (TRAIN_TAR, VAL_TAR, DEVKIT, SOLUTION, MAPPING) if (root / n).is_file()}
    if TRAIN_TAR in official or VAL_TAR in official:
        if VAL_TAR in official and DEVKIT not in official and SOLUTION not in official:
            raise missing_files(root, f"{VAL_TAR} needs its labels: {DEVKIT} or {SOLUTION}")
        return Layout("official", root, official)
    if (root / KAGGLE_DIR / "train").is_dir() or (root / KAGGLE_DIR / "val").is_dir():
        if (root / KAGGLE_DIR / "val").is_dir() and SOLUTION not in official:
            raise missing_files(root, f"the Kaggle val/ folder needs {SOLUTION} beside ILSVRC/")
        return Layout("kaggle", root, official)
    parquet = sorted(root.glob("*.parquet")) + sorted(root.glob("data/*.parquet"))
    if parquet:
        return Layout("parquet", root, official | {p.name: p for p in parquet})
    raise missing_files(root, "none of the known layouts was found")


def missing_files(root: Path, why: str) -> ManualDownloadRequired:
    lines = [f"ImageNet (ILSVRC-2012) is gated: datamill needs files you download yourself ({why}).",
             f"Put them in {root} (or pass --manual-dir DIR), as ONE of:",
             "  1. the official archives from https://image-net.org (account and terms required):"]
    lines += [f"       {root / name}  ({size:,} bytes, md5 {md5})" for name, (size, md5) in OFFICIAL.items()]
    lines += [f"     ({SOLUTION} may replace the devkit for validation labels.)",
              "  2. the Kaggle 'imagenet-object-localization-challenge' folder:",
              f"       {root / KAGGLE_DIR}/train/<wnid>/*.JPEG, {root / KAGGLE_DIR}/val/*.JPEG,",
              f"       {root / SOLUTION} and {root / MAPPING}",
              "  3. the Hugging Face ILSVRC/imagenet-1k Parquet files:",
              f"       {root}/data/train-*.parquet and validation-*.parquet (or fetch them with --hf and HF_TOKEN)",
              "  or: --mirror URL pointing at a server you are entitled to use (credentials from",
              "      DATAMILL_IMAGENET_AUTH, or DATAMILL_IMAGENET_USER and DATAMILL_IMAGENET_PASSWORD, or --credentials-file)."]
    return ManualDownloadRequired("\n".join(lines))


# -- classes -------------------------------------------------------------------------------

def synset_names(layout: Layout) -> dict[str, str]:
    """wnid → human-readable names, from LOC_synset_mapping.txt or the devkit's meta.mat."""
    if MAPPING in layout.files:
        names = {}
        for line in layout.files[MAPPING].read_text(encoding="utf-8").splitlines():
            wnid, _, words = line.strip().partition(" ")
            if SYNSET.match(wnid):
                names[wnid] = words.strip()
        return names
    if DEVKIT in layout.files:
        return {wnid: words for _, wnid, words in _devkit_synsets(layout.files[DEVKIT])}
    return {}


def val_labels(layout: Layout) -> dict[str, str]:
    """Validation image file name → wnid, from LOC_val_solution.csv or the devkit."""
    if SOLUTION in layout.files:
        labels = {}
        with open(layout.files[SOLUTION], newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                prediction = (row.get("PredictionString") or "").split()
                if row.get("ImageId") and prediction:
                    labels[f"{row['ImageId']}.JPEG"] = prediction[0]
        return labels
    if DEVKIT in layout.files:
        by_id = {ilsvrc_id: wnid for ilsvrc_id, wnid, _ in _devkit_synsets(layout.files[DEVKIT])}
        truth = _devkit_member(layout.files[DEVKIT], "ILSVRC2012_validation_ground_truth.txt").decode().split()
        return {f"ILSVRC2012_val_{i:08d}.JPEG": by_id[int(v)] for i, v in enumerate(truth, start=1)}
    return {}


def _devkit_member(devkit: Path, name: str) -> bytes:
    with tarfile.open(devkit, "r:gz") as archive:
        for member in archive:
            if member.isfile() and Path(member.name).name == name:
                handle = archive.extractfile(member)
                assert handle is not None
                return handle.read()
    raise SourceError(f"{devkit}: no {name} inside")


def _devkit_synsets(devkit: Path) -> list[tuple[int, str, str]]:
    """(ILSVRC2012_ID, wnid, words) of the 1000 leaf classes, from data/meta.mat."""
    from scipy.io import loadmat

    meta = loadmat(io.BytesIO(_devkit_member(devkit, "meta.mat")), squeeze_me=True)["synsets"]
    rows = []
    for entry in meta:
        ilsvrc_id, wnid, words = int(entry["ILSVRC2012_ID"]), str(entry["WNID"]), str(entry["words"])
        if int(entry["num_children"]) == 0 and SYNSET.match(wnid):
            rows.append((ilsvrc_id, wnid, words))
    return rows


def verify_manual(root: Path | str, chunk: int = 8 << 20) -> list[str]:
    """Problems of the official archives in a manual directory against the published sizes and md5s.

    The hook ``datamill verify`` calls for ImageNet: each of the published tars present is
    size-checked, then md5-hashed in chunks (constant memory; ~140 GB takes a while).
    """
    problems = []
    for name, (size, md5) in OFFICIAL.items():
        path = Path(root) / name
        if not path.is_file():
            continue
        if path.stat().st_size != size:
            problems.append(f"{path}: {path.stat().st_size:,} bytes, the published size is {size:,}")
            continue
        digest = hashlib.md5()
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
        if digest.hexdigest() != md5:
            problems.append(f"{path}: md5 {digest.hexdigest()}, the published md5 is {md5}")
    return problems
