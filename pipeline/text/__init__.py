"""Text: what is kept of a document and which documents are kept — the per-document and per-crawl text work.

HTML → text (``html``), language identification (``langid``), word splitting shared by the rules
(``words``), quality rules (``gopher``, ``c4``, ``fineweb`` behind ``quality``), MinHash signatures and
bands (``dedup``), and the crawl's partitioned dedup stages and connected components (``crawl_dedup``,
``crawl_components``). May import ``pipeline.store`` and ``pipeline.errors``; never acquire, formats,
sources, features or the faces.
"""
