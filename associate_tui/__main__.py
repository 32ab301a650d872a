"""`python -m associate_tui` is the `associate` command."""

from associate_tui.cli import main

raise SystemExit(main())
