"""Property tests: every parser turns arbitrary or mangled input into records or counted failures, never a crash.

These run a few hundred cases per parser in `make test`; set DATAMILL_FUZZ_EXAMPLES for more.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.formats.mediawiki import dump as mediawiki
from pipeline.formats import mysql_tsv
from pipeline.formats.images import ImageOptions, ImageRejected, process
from pipeline.store.shards import Rejects
from pipeline.formats.warc import Failure, iter_records
from pipeline.formats.mediawiki.wikitext import Siteinfo, clean
from tests.fixtures.commoncrawl_upstream import conversion
from tests.fixtures.imagenet_upstream import jpeg, picture, SORTED
from tests.fixtures.tatoeba_upstream import generate
from tests.fixtures.wikipedia_upstream import build_pages, header, page_xml

# pyarrow's CSV reader reports (and then survives) its own failure to show a non-UTF-8 bad line.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
EXAMPLES = int(os.environ.get("DATAMILL_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

TSV = generate(groups=8, seed=1, ugly=True)[0]
XML = (header("simplewiki", 0.11, True) + "".join(page_xml(p) for p in build_pages(4, 1, True)[0]) + "</mediawiki>\n").encode()
JPEG = jpeg(picture(SORTED[0], __import__("random").Random(1)))


def mangle(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Flip bytes at some positions and maybe truncate: the damage real transfers and disks do."""
    out = bytearray(data)
    for position, value in edits:
        if out:
            out[position % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


EDITS = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), max_size=8)
CUT = st.one_of(st.none(), st.integers(0, 10**6))


@FUZZ
@given(st.binary(max_size=2000) | st.builds(mangle, st.just(TSV), EDITS, CUT))
def test_mysql_tsv(data):
    for table, bad in mysql_tsv.read_batches(io.BytesIO(data), ["id", "lang", "text"], block_size=97):
        assert table.column_names == ["id", "lang", "text"]
        assert all(isinstance(b, mysql_tsv.BadRow) for b in bad)


@FUZZ
@given(st.binary(max_size=2000) | st.builds(mangle, st.just(XML), EDITS, CUT))
def test_mediawiki_stream(data):
    for record in mediawiki.read_stream(io.BytesIO(data)):
        assert isinstance(record, (mediawiki.Page, mediawiki.Failure, Siteinfo))


@FUZZ
@given(st.builds(mangle, st.just(bz2.compress(XML)), EDITS, CUT))
def test_mediawiki_bz2_streams(data):
    for record in mediawiki.read_multistream(io.BytesIO(data), [0], len(data), 1 << 20):
        assert isinstance(record, (mediawiki.Page, mediawiki.Failure))


@FUZZ
@given(st.text(max_size=400))
def test_wikitext_cleaning(text):
    assert isinstance(clean(text, Siteinfo()), str)


WARC = b"".join(conversion(__import__("random").Random(i), f"https://x.example/{i}", "text " * 30, "eng", i)
                for i in range(4))


@FUZZ
@given(st.builds(mangle, st.just(WARC), EDITS, CUT) | st.binary(max_size=600).map(lambda b: gzip.compress(b)))
def test_warc_records(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("warc") / "f.warc.gz"
    path.write_bytes(data)
    for item in iter_records(path, lambda record, block: block):
        assert isinstance(item, (bytes, Failure))


@FUZZ
@given(st.builds(mangle, st.just(JPEG), EDITS, CUT) | st.binary(max_size=3000))
def test_images(data):
    try:
        out = process(data, ImageOptions(size=16, max_pixels=4_000_000))
    except ImageRejected as err:
        assert err.reason
        return
    assert out.data[:2] == b"\xff\xd8" and min(out.width, out.height) == 16


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


TAR = _tar([("n1.JPEG", JPEG), ("../../evil", b"x"), ("n2.JPEG", JPEG)])


@FUZZ
@given(st.builds(mangle, st.just(TAR), EDITS, CUT))
def test_tar_members(data):
    from pipeline.sources.imagenet import _tar_images

    rejects = Rejects("fuzz")
    for name, payload in _tar_images(io.BytesIO(data), "fuzz.tar", rejects):
        assert "/" not in name and isinstance(payload, bytes)
    assert all(reason for reason in rejects.counts)
