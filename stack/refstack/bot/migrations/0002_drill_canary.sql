-- Rows the restore drill writes through the bot at a steady rate: after a restore, the
-- newest one present tells how much was lost (the RPO).
CREATE TABLE bot.drill_canary (
    seq        bigint PRIMARY KEY,          -- the writer's counter: the idempotency key
    written_at timestamptz NOT NULL,        -- when the writer sent it
    stored_at  timestamptz NOT NULL DEFAULT now()
);
