"""The reasoner: a short training lowers the loss, and `datamill ask` answers from the saved run."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from pipeline import build as stages
from pipeline.cli import app
from pipeline.features.reasoning import BOS, EOS, QuestionAnswer, byte_matrix, decode_bytes, encode_answers
from pipeline.sources.reasoning import Reasoning

TINY = {"dim": 16, "heads": 2, "layers": 1, "max_len": 144, "answer_len": 8, "test_sample": 32}


def _between_set(tmp_path, examples: int = 3000):
    source = Reasoning(tmp_path, examples=examples, part_rows=examples, families="between")
    stages.build(source, tmp_path, max_workers=1, progress=False)
    return tmp_path / "shards" / "reasoning" / "seed0" / "questions"


def test_bytes_in_and_out():
    matrix = byte_matrix(["Kate?", ""], 4)
    assert matrix.tolist() == [[75, 97, 116, 101], [0, 0, 0, 0]]
    inputs, targets = encode_answers(["11", "Kate"], 6)
    assert inputs[0].tolist() == [BOS, 49, 49, 0, 0, 0] and targets[1].tolist() == [75, 97, 116, 101, EOS, 0]
    assert decode_bytes(targets[1]) == "Kate" and decode_bytes(np.array([EOS, 50])) == ""


def test_short_training_lowers_the_loss_and_ask_answers(tmp_path):
    from models.train import TrainConfig, train

    data = _between_set(tmp_path)
    run = tmp_path / "runs" / "r"
    config = TrainConfig(steps=16, batch_size=32, learning_rate=0.005, eval_every=8, eval_batches=1,
                         baseline_batches=2, checkpoint_every=100, options=TINY)
    report = train("reasoner", str(data), run, config)
    assert np.mean(report["last_losses"]) < np.mean(report["first_losses"])
    assert "test_exact_match_between" in report["metrics"] and "knn_test_exact_match" in report["baseline"]
    assert report["seed_answer"] is not None and (run / "accuracy.png").exists()
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "Jack is 12 years old. Jane is 10. Kate is older than Jane, and younger "
                                 "than Jack. How old is Kate?", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == report["seed_answer"]
    questions = tmp_path / "q.txt"
    questions.write_text("Tom is 40. Ann is 42. Bob is older than Tom but younger than Ann. How old is Bob?\n"
                         "Jack is 12. Jane is 10. How old is Jack?\n")
    result = runner.invoke(app, ["ask", "--file", str(questions), "--run", str(run)])
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 2, result.output
    result = runner.invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0 and "between" in result.output and "k-NN" in result.output, result.output
    assert json.loads((run / "report.json").read_text())["model"] == "reasoner"


def test_ask_without_a_run_says_so(tmp_path):
    result = CliRunner().invoke(app, ["ask", "How old is Kate?", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0


def test_feature_batches_carry_the_family():
    import pyarrow as pa

    window = pa.table({"question": ["a", "b", "c", "d"], "answer": ["1", "2", "Jo", "4"],
                       "family": ["between", "order", "order", "time"]})
    batches = list(QuestionAnswer(8, 4).batches(window, 2, np.random.default_rng(0)))
    assert len(batches) == 2 and batches[1]["family"].tolist() == [3, 5]


def test_the_reasoner_module_imports_first():
    """`datamill ask` imports models.reasoner before models.tasks: no import cycle may break that."""
    import subprocess
    import sys

    code = "import models.reasoner, models.registry; print(type(models.registry.TASKS['reasoner']('x', {})).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "Reasoner", done.stderr[-2000:]


def test_the_recipe_is_what_train_reasoner_uses_unless_told_otherwise():
    from models.experiment import experiment
    from models.reasoner_recipe import RECIPE
    from models.train import TrainConfig

    _, _, config, _ = experiment(None, {"model": "reasoner", "data": "d"})
    assert (config.steps, config.batch_size, config.learning_rate, config.max_minutes) == \
        (RECIPE["steps"], RECIPE["batch_size"], RECIPE["learning_rate"], RECIPE["max_minutes"])
    _, _, config, _ = experiment(None, {"model": "reasoner", "data": "d", "steps": 7, "options": {"dim": 32}})
    assert config.steps == 7 and config.options == {"dim": 32} and config.batch_size == RECIPE["batch_size"]
    _, _, other, _ = experiment(None, {"model": "translator", "data": "d"})
    assert other == TrainConfig()


def test_a_time_limit_finishes_the_run_and_a_rerun_reports_it(tmp_path):
    from dataclasses import replace

    from models.train import TrainConfig, train

    data = _between_set(tmp_path, 1000)
    config = TrainConfig(steps=500, batch_size=16, eval_every=1000, eval_batches=1, baseline_batches=1,
                         checkpoint_every=1000, max_minutes=1e-4, options={**TINY, "test_sample": 8})
    report = train("reasoner", str(data), tmp_path / "run", config)
    assert report["time_limit_reached"] and 1 <= report["steps"] < 500 and (tmp_path / "run" / "model.keras").exists()
    again = train("reasoner", str(data), tmp_path / "run", config)
    assert again["finished"] and again["steps"] == report["steps"]
    more = train("reasoner", str(data), tmp_path / "run", replace(config, steps=600), resume=True)
    assert not more["finished"] and report["steps"] < more["steps"] < 600
    from models.reasoner import Reasoner

    task = Reasoner(str(data), config.options)
    task.run_dir, task.curve = tmp_path / "run", [{"test_exact_match": 0.5}]
    seen, _ = task.curve_points()
    assert seen[-1] == more["steps"] * config.batch_size  # the steps trained, not the steps asked for


def test_digit_places_count_from_the_units():
    from models.reasoner import digit_places

    ids = byte_matrix(["Jo is 12, Al 7 or 1234."], 24)
    places = np.asarray(digit_places(ids, 3))[0]
    assert places.tolist() == [0] * 6 + [2, 1] + [0] * 5 + [1] + [0] * 4 + [3, 3, 2, 1] + [0, 0]


def test_numbers_can_be_written_units_first():
    import pyarrow as pa

    window = pa.table({"question": ["a", "b"], "answer": ["12", "Kate"], "family": ["between", "order"]})
    arrays = QuestionAnswer(8, 6, reverse_numbers=True).arrays(window)
    assert decode_bytes(arrays["targets"][0]) == "21" and decode_bytes(arrays["targets"][1]) == "Kate"
    assert arrays["decoder_inputs"][0].tolist() == [BOS, ord("2"), ord("1"), 0, 0, 0]


def test_the_decoder_can_be_fed_names_but_not_digits():
    from models.reasoner import DecoderInputs

    ids = np.array([[BOS, ord("2"), ord("1"), EOS], [BOS, ord("K"), ord("a"), 0]], np.int32)
    hidden = np.asarray(DecoderInputs(digits=False)(ids, training=False))
    assert hidden.tolist() == [[BOS, 3, 3, EOS], [BOS, ord("K"), ord("a"), 0]]
    assert np.asarray(DecoderInputs()(ids, training=False)).tolist() == ids.tolist()
    dropped = np.asarray(DecoderInputs(rate=1.0)(ids, training=True))
    assert (dropped[:, 0] == BOS).all() and (dropped[:, 1:] == 3).all()
