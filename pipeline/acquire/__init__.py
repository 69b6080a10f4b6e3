"""Acquire: the only network code — getting upstream files onto the data root, whole and verified.

Owns the resumable downloader (``download``, ``transfer``), the one retry policy (``retry``),
checksums and container checks (``integrity``), what a release is and where its raw files live
(``releases``), and opening downloaded archives safely (``archives``). May import ``pipeline.store``
(locations, atomic files) and ``pipeline.errors``; never sources, formats, features or the faces.
"""
