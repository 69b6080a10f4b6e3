"""Generated reasoning questions (ages of people): names, families, rendering and the solver.

``names`` holds the deterministic name list and its train/test partition, ``families`` samples
each family's facts as NumPy arrays and checks every draw with the ``solver``, and ``render``
turns the arrays into question, answer and facts strings with Arrow kernels (no Python per row).
"""
