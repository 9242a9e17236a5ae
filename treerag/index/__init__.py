"""The project index: scan a tree, parse files, build the graph, store it in SQLite, keep it fresh."""
