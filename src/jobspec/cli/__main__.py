"""`python -m jobspec.cli`, as the tests run the command in a subprocess."""

from jobspec.cli import main

main()
