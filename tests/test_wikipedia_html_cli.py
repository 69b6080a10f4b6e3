"""`datamill build wikipedia --format html` (needs the --format option in pipeline/cli.py and the registration)."""

from __future__ import annotations

from tests.fixtures.wikipedia_html_upstream import write_html_dump


def test_cli_builds_the_html_format(server, upstream, tmp_path):
    from tests.test_cli import datamill

    write_html_dump(upstream / "wikimedia", "simplewiki", "20261101")
    got = datamill("build", "wikipedia", "--format", "html", "--wiki", "simplewiki", "--date", "20261101",
                   "--data-dir", str(tmp_path), "--mirror", server.url + "wikimedia/", "--max-page-mb", "0.1", "--quiet")
    assert got.returncode == 0, got.stderr
    assert "wikipedia_html/articles simplewiki-20261101: 43 rows" in got.stdout
    got = datamill("plan", "wikipedia", "--format", "xml", "--wiki", "simplewiki", "--date", "20261101",
                   "--data-dir", str(tmp_path), "--mirror", server.url + "wikimedia/")
    assert got.returncode == 0, got.stderr
    got = datamill("plan", "wikipedia", "--format", "pdf", "--data-dir", str(tmp_path))
    assert got.returncode != 0 and "--format" in got.stderr
