"""The CLI leaves TensorFlow's default oneDNN kernels on: it used to turn them off only to hide a
start-up banner, which also took TensorFlow's fastest CPU kernels away from every training."""

from __future__ import annotations

import os
import sys


def test_the_cli_does_not_turn_onednn_off(monkeypatch):
    from pipeline import cli

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(sys, "argv", ["datamill", "--help"])
    cli.main()
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
