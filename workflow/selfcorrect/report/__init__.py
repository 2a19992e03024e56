"""The cross-model report: summary.md tables in the SCoRe paper's layout, metrics.csv, figures."""

from selfcorrect.report.build import Result, build_report, load_result

__all__ = ["Result", "build_report", "load_result"]
