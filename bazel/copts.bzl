"""Compiler options for cancelpool's own code (not for the dependencies)."""

CANCELPOOL_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
]
