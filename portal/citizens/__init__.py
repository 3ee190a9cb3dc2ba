"""Citizens: phone + SMS code sign-in and their own sessions (separate from staff sessions)."""
