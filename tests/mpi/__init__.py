"""MPI test programs, run under mpiexec (conftest.py says how).

A package, so that its conftest does not shadow tests/conftest.py (imported as ``conftest``).
"""
