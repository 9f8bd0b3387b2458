"""The report: one self-contained HTML page and summary.json from a run folder."""
