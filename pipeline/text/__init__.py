"""Web text processing: HTML → text, language identification, quality filters, deduplication."""
