-- Guild settings and one usage row per handled interaction.
CREATE TABLE bot.guild_settings (
    guild_id   bigint PRIMARY KEY,
    settings   jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bot.usage (
    interaction_id text PRIMARY KEY,  -- Discord's ID: the idempotency key of the write
    command        text NOT NULL,
    user_hash      text NOT NULL,
    handled_at     timestamptz NOT NULL DEFAULT now()
);
