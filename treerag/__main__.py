"""``python -m treerag`` runs the CLI."""

from treerag.cli import main

raise SystemExit(main())
