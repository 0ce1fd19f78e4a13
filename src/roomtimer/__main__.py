"""`python -m roomtimer` runs the command line."""

from roomtimer.cli import main

raise SystemExit(main())
