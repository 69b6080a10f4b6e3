"""Sources: one module per upstream (and the generated reasoning set), each implementing ``base.py``'s protocol.

A source discovers a release, cuts it into parts and streams each part's records; it drives
``acquire`` (downloads), ``formats`` (parsing), ``text`` and ``reasoning`` (the work on records) and
``store`` (shards). It never imports ``build``, ``features``, models, flows or the faces.
"""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.sources.base import Source


def get_source(name: str, **options) -> Source:
    """The source called ``name``, configured with its options (``mirror``, ...)."""
    from pipeline.sources.commoncrawl import CommonCrawl
    from pipeline.sources.imagenet import ImageNet
    from pipeline.sources.reasoning import Reasoning
    from pipeline.sources.tatoeba import Tatoeba
    from pipeline.sources.wikipedia import Wikipedia
    from pipeline.sources.wikipedia_html import WikipediaHTML

    sources = {"tatoeba": Tatoeba, "wikipedia": Wikipedia, "wikipedia_html": WikipediaHTML, "imagenet": ImageNet,
               "commoncrawl": CommonCrawl, "reasoning": Reasoning}
    if name not in sources:
        raise ConfigError(f"unknown source {name!r}; choose from: {', '.join(sorted(sources))}")
    return sources[name](**options)
