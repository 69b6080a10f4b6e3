"""Formats: one module (or package) per upstream file format, parsed as a stream of records.

MediaWiki XML dumps and wikitext cleaning (``mediawiki``), WARC/WET (``warc``), MySQL TSV exports
(``mysql_tsv``), the ImageNet directory and tar layouts (``imagenet``) and image decoding and
resizing (``images``). A format knows bytes and records, not where files come from or go: it may
import ``pipeline.text`` (HTML to text), ``pipeline.store`` and ``pipeline.errors``; never
acquire, sources, features or the faces.
"""
