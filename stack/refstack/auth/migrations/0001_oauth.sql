-- OAuth linking: who is linked to which AniList account, and flows in progress.
CREATE TABLE auth.oauth_credentials (
    discord_user_id  bigint PRIMARY KEY,
    anilist_user_id  bigint NOT NULL UNIQUE,
    anilist_username text NOT NULL,
    access_token     bytea NOT NULL,  -- encrypted at rest
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth.oauth_state (
    state           text PRIMARY KEY,
    discord_user_id bigint NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
