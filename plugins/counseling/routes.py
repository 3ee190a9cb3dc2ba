"""Staff pages of the counseling module (settings, consent at the center, screening, crisis, numbers)."""

ROUTES: list = []
