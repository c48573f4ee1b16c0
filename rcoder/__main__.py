"""`python -m rcoder`: the same as the `rcoder` command."""

from rcoder.cli import main

main()
