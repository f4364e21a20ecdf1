"""Development tooling around the bundled vcsim simulator: start it, and describe worlds for it.

Used by `make demo`, the tests and the benchmarks; the controller itself never needs it.
"""
