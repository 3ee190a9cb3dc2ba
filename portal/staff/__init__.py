"""Staff accounts administration."""
