"""Claude Code integration: the hook client (``run``), the settings installer and the plugin."""
