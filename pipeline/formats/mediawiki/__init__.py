"""MediaWiki: the XML dump format (``dump``) and wikitext → plain text (``wikitext`` and its helpers).

``dump`` streams pages out of a multistream XML dump; ``wikitext`` cleans one page's markup, with
``templates`` (what a template renders to), ``names`` (localized namespace and language names),
``prestrip`` (a cheap scan before parsing), ``guard`` (per-page time and depth limits),
``retention`` (how much prose a page kept) and ``html`` (Wikimedia's HTML dumps → text).
"""
