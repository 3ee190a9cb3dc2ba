"""Public pages of the counseling module: consent and self-screening for a booking."""

ROUTES: list = []
