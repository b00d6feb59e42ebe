"""``python -m earlgate`` runs the command line."""

from earlgate.cli import main

raise SystemExit(main())
