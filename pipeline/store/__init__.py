"""Store: where datasets live and the contract readers trust — immutable snapshots on a data root.

Owns locations on local disk or object storage (``location``, atomic ``files``, lease ``locks``),
the shard writer and part bookkeeping (``shards``), snapshot manifests, history, verify and gc
(``snapshots``), commit-time packing (``packs``), split assignment (``splits``) and lineage between
versions (``lineage``). The lowest layer: it imports nothing from datamill but ``pipeline.errors``.
"""
