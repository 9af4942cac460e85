"""The auth service: links Discord users to AniList accounts (OAuth)."""
