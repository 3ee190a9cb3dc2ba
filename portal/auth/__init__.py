"""Staff identity: roles and permissions, passwords, TOTP, sessions, sign-in pages."""
