"""Authentication: passwords (argon2), UI sessions and API bearer tokens."""
