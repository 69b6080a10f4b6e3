"""The stream: determinism, worker sharding without overlap or gap, exact resume, every feature, S3."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipeline.errors import ConfigError, ShardError
from pipeline.features import Columns
from pipeline.features.image import ImageClassification
from pipeline.features.stream import Stream, list_shards, mix
from pipeline.features.text import BOS, EOS, PackedText, TranslationPairs, load_tokenizer, train_tokenizer


def ids_feature(root) -> Columns:
    return Columns.from_manifest(list_shards(str(root), "train")[1], ["id"])


def id_batches(stream: Stream) -> list[list[int]]:
    return [b["id"].tolist() for b in stream.batches()]


def make(root, **kw) -> Stream:
    options = {"batch_size": 8, "window_batches": 3, "cycle": 2, "read_rows": 5, "seed": 3,
               "feature": ids_feature(root)} | kw
    return Stream(str(root), **options)


def test_several_files_per_split(shards):
    assert len(list_shards(str(shards["sentences"]), "train")[0]) >= 4


def test_same_seed_same_order_and_every_row_once(shards):
    first, again = id_batches(make(shards["sentences"])), id_batches(make(shards["sentences"]))
    assert first == again
    flat = [i for b in first for i in b]
    rows = list_shards(str(shards["sentences"]), "train")[1]["splits"]["train"]["rows"]
    assert len(flat) == len(set(flat)) == rows - rows % 8, "every row once (only the last partial batch dropped)"
    assert id_batches(make(shards["sentences"], seed=4)) != first
    everything = Columns(["id"], {"id": "int64"}, drop_remainder=False)
    shuffled = [i for b in make(shards["sentences"], feature=everything).batches() for i in b["id"].tolist()]
    unshuffled = [i for b in make(shards["sentences"], feature=everything, shuffle=False, cycle=1).batches()
                  for i in b["id"].tolist()]
    assert unshuffled != shuffled and sorted(unshuffled) == sorted(shuffled) and len(shuffled) == rows
    import pyarrow.parquet as pq

    files = sorted(list_shards(str(shards["sentences"]), "train")[0], key=lambda s: s.url)
    on_disk = [i for s in files for i in pq.read_table(s.url, columns=["id"]).column("id").to_pylist()]
    assert unshuffled == on_disk, "no shuffle, one file at a time: the shards' own order"


def test_epochs_reshuffle(shards):
    everything = Columns(["id"], {"id": "int64"}, drop_remainder=False)
    batches = id_batches(make(shards["sentences"], epochs=2, feature=everything))
    half = len(batches) // 2
    assert sorted(sum(batches[:half], [])) == sorted(sum(batches[half:], []))
    assert batches[:half] != batches[half:]


@pytest.mark.parametrize("workers", [2, 3, 9])
def test_workers_neither_overlap_nor_leave_gaps(shards, workers):
    files = len(list_shards(str(shards["sentences"]), "train")[0])
    seen = []
    for worker in range(workers):
        stream = make(shards["sentences"], num_workers=workers, worker=worker, batch_size=1)
        assert stream.row_stride == (1 if files >= workers else workers)
        seen += [i for b in id_batches(stream) for i in b]
    assert len(seen) == len(set(seen)) == list_shards(str(shards["sentences"]), "train")[1]["splits"]["train"]["rows"]


@pytest.mark.parametrize("stop", [1, 3, 4, 7, 20])
def test_resume_neither_repeats_nor_skips(shards, stop):
    reference = id_batches(make(shards["sentences"], epochs=2))
    stream = make(shards["sentences"], epochs=2)
    it = stream.batches()
    before = [next(it)["id"].tolist() for _ in range(stop)]
    position = stream.position(stop)
    resumed = id_batches(make(shards["sentences"], epochs=2, start=position))
    assert before + resumed == reference
    again = make(shards["sentences"], epochs=2, start=position)
    it = again.batches()
    [next(it) for _ in range(2)]
    assert id_batches(make(shards["sentences"], epochs=2, start=again.position(2))) == resumed[2:]


def test_resume_with_row_sharded_workers(shards):
    options = {"num_workers": 9, "worker": 4, "batch_size": 2}
    reference = id_batches(make(shards["sentences"], **options))
    stream = make(shards["sentences"], **options)
    it = stream.batches()
    before = [next(it)["id"].tolist() for _ in range(5)]
    assert before + id_batches(make(shards["sentences"], start=stream.position(5), **options)) == reference


def test_tf_dataset_and_input_context(shards):
    import tensorflow as tf

    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    stream = Stream.for_input_context(context, root=str(shards["sentences"]), feature=ids_feature(shards["sentences"]),
                                      batch_size=4)
    batches = list(stream.dataset().as_numpy_iterator())
    assert batches and all(b["id"].shape == (4,) for b in batches)
    assert [b["id"].tolist() for b in batches] == id_batches(Stream.for_input_context(
        context, root=str(shards["sentences"]), feature=ids_feature(shards["sentences"]), batch_size=4))


@pytest.fixture(scope="module")
def tokenizer(shards):
    return load_tokenizer(train_tokenizer(str(shards["articles"]), ["text"], vocab_size=300))


def test_tokenizer_is_versioned_with_the_data(shards, tokenizer):
    from pipeline.features.text import find_tokenizer

    path = find_tokenizer(str(shards["articles"]))
    manifest = list_shards(str(shards["articles"]), "train")[1]
    assert manifest["config_hash"] in path and manifest["version"] in path and "_features" in path
    assert tokenizer.get_vocab_size() <= 300 and tokenizer.token_to_id("[EOS]") == EOS


def test_packed_language_modelling(shards, tokenizer):
    stream = Stream(str(shards["articles"]), PackedText(tokenizer, seq_len=16), batch_size=4, window_batches=4)
    batches = list(stream.batches())
    assert batches and all(b["inputs"].shape == (4, 16) for b in batches)
    first = batches[0]
    assert np.array_equal(first["inputs"][:, 1:], first["targets"][:, :-1]), "targets are inputs shifted by one"
    assert (np.concatenate([b["inputs"] for b in batches]) == EOS).any(), "documents are joined by [EOS]"


def test_translation_pairs(shards):
    tok = load_tokenizer(train_tokenizer(str(shards["pairs"]), ["source_text", "target_text"], vocab_size=200))
    stream = Stream(str(shards["pairs"]), TranslationPairs(tok, max_len=24), batch_size=8, window_batches=2)
    batch = next(stream.batches())
    assert batch["encoder_inputs"].shape == batch["decoder_inputs"].shape == batch["targets"].shape == (8, 24)
    assert (batch["decoder_inputs"][:, 0] == BOS).all()
    lengths = (batch["targets"] != 0).sum(axis=1)
    assert all(batch["targets"][i, lengths[i] - 1] == EOS for i in range(8))
    assert np.array_equal(batch["decoder_inputs"][:, 1:][batch["targets"][:, :-1] != EOS],
                          batch["targets"][:, :-1][batch["targets"][:, :-1] != EOS])
    short = Stream(str(shards["pairs"]), TranslationPairs(tok, max_len=3), batch_size=1)
    assert sum(1 for _ in short.batches()) < sum(1 for _ in stream.batches()) * 8, "over-long pairs are left out"


@pytest.mark.parametrize("train", [True, False])
def test_images_decode_augment_and_normalize(shards, train):
    split = "train" if train else "validation"
    stream = Stream(str(shards["images"]), ImageClassification(32, train=train), split=split, batch_size=4,
                    window_batches=2, cycle=4, read_rows=2)
    batches = list(stream.dataset().as_numpy_iterator())
    assert batches and all(b["image"].shape == (4, 32, 32, 3) and b["image"].dtype == np.float32 for b in batches)
    pixels = np.concatenate([b["image"] for b in batches])
    assert -2.2 < pixels.min() < 0 < pixels.max() < 2.7, "ImageNet mean/std normalization"
    labels = np.concatenate([b["label"] for b in batches])
    assert set(labels) == {0, 1, 2, 3}
    again = list(Stream(str(shards["images"]), ImageClassification(32, train=train), split=split, batch_size=4,
                        window_batches=2, cycle=4, read_rows=2).dataset().as_numpy_iterator())
    assert all(np.array_equal(a["image"], b["image"]) for a, b in zip(batches, again)), "augmentation is seeded"


def test_mixing_streams_by_weight(shards):
    streams = [Stream(str(shards[name]), Columns(["text"], {"text": "string"}), batch_size=1, epochs=None)
               for name in ("articles", "sentences")]
    drawn = [b["text"][0].decode() for b in mix(streams, [0.8, 0.2], seed=1).take(300).as_numpy_iterator()]
    from_articles = sum(len(t) > 200 for t in drawn)
    assert 180 < from_articles < 280


def test_bad_inputs_are_clear(shards, tmp_path):
    with pytest.raises(ShardError, match="no _manifest.json"):
        Stream(str(tmp_path), Columns(["id"], {"id": "int64"}))
    with pytest.raises(ShardError, match="has no shards"):
        Stream(str(shards["sentences"]), Columns(["id"], {"id": "int64"}), split="nope")
    with pytest.raises(ConfigError):
        make(shards["sentences"], num_workers=2, worker=2)


def test_s3_through_a_local_s3_server(shards, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="datamill")
        root = shards["sentences"]
        for path in root.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), "datamill", f"tatoeba/sentences/{path.relative_to(root)}")
        import fsspec

        fsspec.config.conf.setdefault("s3", {})["client_kwargs"] = {"endpoint_url": endpoint}
        try:
            remote = Stream("s3://datamill/tatoeba/sentences", ids_feature(root), batch_size=8, window_batches=3,
                            cycle=2, read_rows=5, seed=3)
            assert id_batches(remote) == id_batches(make(root))
        finally:
            fsspec.config.conf["s3"].pop("client_kwargs", None)
    finally:
        server.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)


def test_bytes_travel_as_one_buffer_and_offsets():
    import pyarrow as pa

    from pipeline.features import pack_bytes, unpack_bytes

    values = pa.chunked_array([["ab", None, "", "ünï"], ["x"]]).cast(pa.string())
    for column in (values, values.combine_chunks().slice(1, 3), pa.array([b"\x00\xff", b"z"])):
        buffer, offsets = pack_bytes(column)
        expected = [(v.encode() if isinstance(v, str) else v) or b"" for v in column.to_pylist()]
        assert unpack_bytes(buffer, offsets).numpy().tolist() == expected


# -- class-sorted shards (one class per file, as ImageNet's per-synset tars give) -----------

def write_class_sorted(root, classes: int, group_rows: int, seed: int = 0):
    """One part (hence files) per class, row groups of ``group_rows`` rows, uneven class sizes."""
    import pyarrow as pa

    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet

    schema = pa.schema([("id", pa.int64()), ("label", pa.int64())])
    spec = DatasetSpec(root=root, source="fixture", dataset="sorted", version="v1", schema=schema, config={},
                       license="none", row_group_bytes=1)
    sizes = np.random.default_rng(seed).integers(30, 51, classes)
    shard_set, parts, first = ShardSet(spec), [], 0
    for label, size in enumerate(sizes):
        part = Part(f"{label:04d}", (PartInput(f"class-{label}", "0" * 64),))
        ids = np.arange(first, first + size)
        first += size

        def read(part, rejects, ids=ids, label=label):
            for start in range(0, len(ids), group_rows):  # one write per row group
                chunk = ids[start: start + group_rows]
                yield pa.table({"id": chunk, "label": np.full(len(chunk), label), SPLIT_COLUMN: ["train"] * len(chunk)})
        shard_set.build_part(part, read)
        parts.append(part)
    shard_set.finalize(parts)
    return root


@pytest.fixture(scope="module")
def class_sorted(tmp_path_factory):
    return write_class_sorted(tmp_path_factory.mktemp("sorted") / "sorted", classes=200, group_rows=16)


def label_feature(root) -> Columns:
    return Columns.from_manifest(list_shards(str(root), "train")[1], ["id", "label"])


def iid_distinct(classes: int, batch: int) -> float:
    return classes * (1 - (1 - 1 / classes) ** batch)


@pytest.mark.parametrize("settings", ["defaults", "image_classifier"])
def test_class_sorted_shards_stream_near_iid(class_sorted, settings):
    from models.tasks import ImageClassifier

    options = {} if settings == "defaults" else ImageClassifier(str(class_sorted)).stream_options
    stream = Stream(str(class_sorted), label_feature(class_sorted), batch_size=32, seed=1, **options)
    batches = [b["label"] for b in stream.batches()]
    distinct = float(np.mean([len(set(b.tolist())) for b in batches]))
    assert distinct >= 0.9 * iid_distinct(200, 32), f"{distinct:.1f} distinct labels per batch of 32"
    early = set(np.concatenate(batches[: len(batches) // 10]).tolist())
    assert len(early) >= 180, f"{len(early)} of 200 classes in the first 10% of the epoch"
    ids = np.concatenate([b["id"] for b in stream.batches()])
    assert len(ids) == len(set(ids.tolist())), "still every row at most once"


@pytest.fixture(scope="module")
def small_groups(tmp_path_factory):
    """12 files, row groups of 7 rows: reads cross row groups all the time."""
    return write_class_sorted(tmp_path_factory.mktemp("groups") / "groups", classes=12, group_rows=7, seed=5)


@pytest.mark.parametrize("options", [{}, {"read_rows": 5, "window_batches": 3, "cycle": 4}, {"shuffle": False}])
def test_resume_at_every_batch_of_an_epoch(small_groups, options):
    def make_here(**kw):
        return Stream(str(small_groups), label_feature(small_groups), batch_size=8, epochs=2, seed=2,
                      **(options | kw))
    reference = [b["id"].tolist() for b in make_here().batches()]
    assert len(reference) > 100
    stream = make_here()
    it = stream.batches()
    for stop in range(1, len(reference)):
        next(it)
        resumed = make_here(start=stream.position(stop)).batches()
        got = [next(resumed)["id"].tolist() for _ in range(min(2, len(reference) - stop))]
        assert got == reference[stop: stop + 2], f"resumed at batch {stop}"
    assert [b["id"].tolist() for b in make_here(start=stream.position(37)).batches()] == reference[37:]


def test_cli_stream_saves_and_resumes_at_the_next_example(class_sorted, tmp_path):
    import json

    from tests.test_cli import datamill

    args = ["stream", str(class_sorted), "--feature", "columns", "--columns", "id", "--columns", "label", "--jsonl",
            "--batch-size", "8"]
    whole = datamill(*args, "--take", "45")
    assert whole.returncode == 0, whole.stderr[-2000:]
    rows = [json.loads(line) for line in whole.stdout.splitlines()]
    assert len(rows) == 45 and set(rows[0]) == {"id", "label"}
    position = tmp_path / "position.json"
    first = datamill(*args, "--take", "13", "--save-position", str(position))
    rest = datamill(*args, "--take", "32", "--resume", str(position))
    assert first.returncode == 0 and rest.returncode == 0, first.stderr[-2000:] + rest.stderr[-2000:]
    assert [json.loads(line) for line in first.stdout.splitlines() + rest.stdout.splitlines()] == rows
    assert len({r["label"] for r in rows[:32]}) > 20, "the CLI stream is mixed too"


def test_mix_resumes_exactly(shards, small_groups):
    from pipeline.features.stream import Mix

    def streams():
        return [make(shards["sentences"], epochs=2), Stream(str(small_groups), ids_feature(small_groups),
                                                             batch_size=8, seed=1)]
    reference = [b["id"].tolist() for b in Mix(streams(), [0.7, 0.3], seed=4).batches()]
    mixed = Mix(streams(), [0.7, 0.3], seed=4)
    it = mixed.batches()
    consumed = 0
    for stop in (1, 9, 30, len(reference) - 3):
        while consumed < stop:
            next(it)
            consumed += 1
        resumed = [b["id"].tolist() for b in Mix(streams(), [0.7, 0.3], seed=4, start=mixed.position(stop)).batches()]
        assert resumed == reference[stop:], f"mix resumed at {stop}"


# -- bounded memory, packed class-sorted layouts, many workers (issue 26) --------------------

def test_a_reader_holds_a_batch_not_the_bytes_it_has_read(tmp_path):
    """Reading row group after row group of one file, neither Arrow's pool nor the process grows with the
    bytes read: a reader that pre-buffered the row groups it was asked for kept the rest of the file."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline.features.stream import _Reader

    def rss() -> int:
        return int(next(line for line in open("/proc/self/status") if line.startswith("VmRSS")).split()[1]) << 10

    path = tmp_path / "big.parquet"
    blobs = pa.array([np.random.default_rng(i).bytes(10_000) for i in range(200)] * 40, pa.binary())
    pq.write_table(pa.table({"id": np.arange(8000), "blob": blobs}), path, row_group_size=200, compression="none",
                   use_dictionary=False)  # 40 row groups of 2 MB: 80 MB
    del blobs
    reader = _Reader(fsspec.filesystem("file"), str(path), 0, 32, None)
    reader.take(5 * 200)  # the reader's buffers and the allocator are warm
    pool, process = pa.total_allocated_bytes(), rss()
    for _ in range(34):
        reader.take(200)
    grew = {"Arrow pool": pa.total_allocated_bytes() - pool, "process": rss() - process}
    reader.close()
    assert max(grew.values()) < 20 << 20, f"after 68 MB more read: {grew}"


def write_packed_class_sorted(root, classes: int, rows_per_class: int):
    """One small part per class (each fits in a row group): the commit packs them into one file."""
    import pyarrow as pa

    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet

    schema = pa.schema([("id", pa.int64()), ("label", pa.int64())])
    spec = DatasetSpec(root=root, source="fixture", dataset="packed", version="v1", schema=schema, config={},
                       license="none")
    shard_set, parts = ShardSet(spec), []
    for label in range(classes):
        part = Part(f"{label:04d}", (PartInput(f"class-{label}", "0" * 64),))

        def read(part, rejects, label=label):
            ids = np.arange(label * rows_per_class, (label + 1) * rows_per_class)
            yield pa.table({"id": ids, "label": np.full(len(ids), label), SPLIT_COLUMN: ["train"] * len(ids)})
        shard_set.build_part(part, read)
        parts.append(part)
    shard_set.finalize(parts)
    return root


def test_a_packed_class_sorted_file_streams_near_iid(tmp_path):
    root = write_packed_class_sorted(tmp_path / "packed", classes=100, rows_per_class=30)
    shards, _ = list_shards(str(root), "train")
    assert len(shards) == 1, "the layout this test is about: every class packed into one file"
    stream = Stream(str(root), label_feature(root), batch_size=32, seed=1)
    batches = [b["label"] for b in stream.batches()]
    distinct = float(np.mean([len(set(b.tolist())) for b in batches]))
    assert distinct >= 0.9 * iid_distinct(100, 32), f"{distinct:.1f} distinct labels per batch of 32"
    early = set(np.concatenate(batches[: len(batches) // 10]).tolist())
    assert len(early) >= 0.9 * 100 * (1 - (1 - 1 / 100) ** (len(batches) // 10 * 32)), f"{len(early)} classes early"
    ids = np.concatenate([b["id"] for b in stream.batches()])
    assert len(ids) == len(set(ids.tolist())) == 3000 - 3000 % 32


def test_more_workers_than_files_read_every_row_once(small_groups):
    files = len(list_shards(str(small_groups), "train")[0])
    rows = list_shards(str(small_groups), "train")[1]["splits"]["train"]["rows"]
    assert files == 12
    seen = []
    for worker in range(30):
        stream = Stream(str(small_groups), label_feature(small_groups), batch_size=8, num_workers=30, worker=worker,
                        seed=2)
        seen += [i for b in stream.batches() for i in b["id"].tolist()]
    assert len(seen) == len(set(seen)), "no row twice"
    assert len(seen) > rows - 8, f"{rows - len(seen)} of {rows} rows never read (at most one partial batch may go)"


def test_cli_columns_take_commas_like_every_other_list_option(class_sorted):
    import json

    from tests.test_cli import datamill

    done = datamill("stream", str(class_sorted), "--feature", "columns", "--columns", "id,label", "--jsonl",
                    "--take", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [set(json.loads(line)) for line in done.stdout.splitlines()] == [{"id", "label"}] * 3


def test_a_shard_of_big_rows_is_read_a_small_page_at_a_time(tmp_path):
    """Shards are written in pages of about 1 MB whatever the row size: Parquet cuts a page only every
    1,024 values by default, so 20 kB rows made 20 MB pages (110 kB JPEGs: 110 MB), and a reader
    holds a whole page — with a thousand files open, more than a host has."""
    import fsspec
    import pyarrow as pa

    from pipeline.features.stream import _Reader
    from pipeline.store.shards import SPLIT_COLUMN, DatasetSpec, Part, PartInput, ShardSet

    schema = pa.schema([("id", pa.int64()), ("blob", pa.binary())])
    spec = DatasetSpec(tmp_path / "big", "fixture", "big", "v1", schema, {}, "none", row_group_bytes=64 << 20,
                       uncompressed_columns=("blob",))
    blobs = pa.array([np.random.default_rng(i).bytes(20_000) for i in range(3000)], pa.binary())
    shard_set, part = ShardSet(spec), Part("p", (PartInput("p", "0" * 64),))
    shard_set.build_part(part, lambda p, r: iter([pa.table({"id": np.arange(3000), "blob": blobs,
                                                            SPLIT_COLUMN: ["train"] * 3000})]))
    manifest = shard_set.finalize([part])
    del blobs
    before = pa.total_allocated_bytes()
    reader = _Reader(fsspec.filesystem("file"), str(tmp_path / "big" / manifest["shards"][0]["file"]), 0, 16, None)
    held = []
    for _ in range(100):
        reader.take(16)
        held.append(pa.total_allocated_bytes() - before)
    reader.close()
    assert max(held) < 6 << 20, f"a reader of 16-row batches holds {max(held) / 1e6:.1f} MB"
