"""selfcorrect: train language models to correct their own mistakes (SCoRe, RISE)."""

__version__ = "0.1.0"
