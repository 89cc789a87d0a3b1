"""The top layer: the facade behind `avatar.pose/render/animate/score`, the CLI, and (later) the playground and batch runner.

The only place that imports all four packages (avatar core, generators, renderers, recognizers);
nothing below imports it. import-linter checks that contract in CI (pyproject.toml).
"""
