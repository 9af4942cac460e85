"""What the reference services share: settings, logging, request IDs, health, migrations."""
