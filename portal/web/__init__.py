"""The web shell: rendering, errors, security headers, flash messages and the core pages."""
