"""The treerag daemon: one per user, event driven, serving hooks, the CLI and the dashboard.

``server`` accepts connections and frames messages, ``methods`` holds the
method table that every feature extends, ``broadcast`` pushes subscription
events, ``lifecycle`` owns the socket directory, the pid lock and detaching,
and ``app`` ties them into one root task group. ``python -m treerag.daemon``
starts it with as few imports as possible.
"""
