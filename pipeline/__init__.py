"""datamill: verified, versioned Parquet shards from the big public corpora."""

__version__ = "0.1.0"
