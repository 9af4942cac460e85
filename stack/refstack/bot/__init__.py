"""The bot: a Discord interactions endpoint (HTTP), no gateway connection."""
