"""Runtime: which projects are loaded (ProjectManager), memory pressure, the task queue, and their methods."""
