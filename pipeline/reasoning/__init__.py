"""Generated reasoning questions (ages of people): names, families, rendering and the solver.

``names`` holds the deterministic name list and its train/test partition, ``families`` samples
each family's facts as NumPy arrays (in range by construction where it can) and checks every
draw with the closed-form ``solver``, and ``text`` turns the arrays into question, answer and
facts strings as rows of phrase ids gathered into Arrow buffers (no Python per row). May import
``pipeline.store`` (shards, splits) and ``pipeline.errors`` only.
"""
