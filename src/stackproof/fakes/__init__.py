"""Fakes of the outside world (Discord, AniList, Sentry), speaking the real wire formats."""
