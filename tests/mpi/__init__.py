"""MPI test programs, run under mpiexec (see conftest.py); a package so its conftest does not shadow tests/conftest.py."""
