"""The center tree, departments, scope rules and per-center module switches."""
