# datamill: `make demo` and `make test` each set the environment up from nothing, then run.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export UV_COMPILE_BYTECODE := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export HF_DATASETS_OFFLINE := 1
export HF_HUB_OFFLINE := 1
# A loaded 2-core machine can take longer than the 20 s default to start the temporary Prefect server.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: setup setup-gpu demo test bench reliability lock clean

setup: $(STAMP)

# The venv is rebuilt whenever the project's dependency files change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt -e ".[test,cpu]"
	touch $(STAMP)

# CUDA TensorFlow in its own venv (.venv-gpu), so `make test` and `make demo` keep the CPU build;
# then `.venv-gpu/bin/python bench/gpu_check` on the GPU machine.
GPU_VENV ?= .venv-gpu
setup-gpu:
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"
	$(GPU_VENV)/bin/uv pip install --python $(GPU_VENV)/bin/python --quiet -c constraints.txt -e ".[test,gpu]"

demo: $(STAMP)
	$(BIN)/python -m pipeline.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Kill sweeps, network faults, fuzzing at 10,000 cases per parser, secrets and load (~20 min).
reliability: $(STAMP)
	$(BIN)/python -m pytest -q -s -m reliability tests/reliability
	DATAMILL_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q --timeout 1800 tests/test_fuzz.py  # 10,000 Tatoeba cases take ~330 s

bench: $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt -e ".[test,bench,cpu]"
	$(BIN)/python -m bench.tatoeba_parse
	$(BIN)/python -m bench.wikipedia_clean
	$(BIN)/python -m bench.image_process
	$(BIN)/python -m bench.commoncrawl_extract
	$(BIN)/python -m bench.stream
	$(BIN)/python -m bench.train_step
	$(BIN)/python -m bench.class_mix_fixture
	$(BIN)/python -m bench.class_mix --classes 500 --rows-per-class 80
	$(BIN)/python -m bench.input_pipeline --images 1500 --texts 10000
	$(BIN)/python -m bench.reasoning_generate

# Refresh the pinned constraints after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench --extra cpu --extra gpu --universal --python-version 3.11 --no-header -o constraints.txt

clean:
	rm -rf $(VENV) $(GPU_VENV) .pytest_cache
