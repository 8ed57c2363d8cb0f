"""The calibrated model of AI electricity: fleet (supply), workloads (demand), boundaries,
reconciliation, conventional load and impacts, each a small module of pure numpy functions.

Array axes are documented per function: (n, R, Y) = samples x regions x years, and
(n, C, R, Y) with accelerator classes; regions follow `project.variables.REGIONS`.
"""
