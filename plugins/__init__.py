"""The product's bundled optional modules (each one a plugin package: see docs/plugins.md)."""
