"""Context for Claude Code: the session overview, prompt ranking, file neighbours, rendering and caching."""
