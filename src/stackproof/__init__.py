"""stackproof: prove that a Discord bot's production stack is fit to ship."""

__version__ = "0.1.0"
