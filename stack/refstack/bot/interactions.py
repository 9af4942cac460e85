"""Discord interactions as the bot reads and answers them (the interactions-endpoint shapes).

An application command (type 2) names the command and carries its options; the answer is
CHANNEL_MESSAGE_WITH_SOURCE (type 4) with content and embeds, ephemeral when it only
concerns the person who asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PING = 1
APPLICATION_COMMAND = 2
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
EPHEMERAL = 1 << 6
SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")
MAX_OPTION_LENGTH = 100
DESCRIPTION_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Command:
    interaction_id: str  # Discord's ID: the idempotency key of what handling it writes
    name: str
    options: dict[str, str]
    user_id: str
    guild_id: str | None = None  # None in a direct message


def _user_id(interaction: dict[str, Any]) -> str | None:
    """In a guild the user is inside `member`; in a DM it is at the top level."""
    member = interaction.get("member")
    holder = member if isinstance(member, dict) else interaction
    user = holder.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, str) and SNOWFLAKE.match(user_id) else None


def parse_command(interaction: dict[str, Any]) -> Command | None:
    """The command an APPLICATION_COMMAND interaction carries, or None if it is malformed."""
    interaction_id = interaction.get("id")
    data = interaction.get("data")
    user_id = _user_id(interaction)
    if not (isinstance(interaction_id, str) and SNOWFLAKE.match(interaction_id)):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or user_id is None:
        return None
    options: dict[str, str] = {}
    for option in data.get("options") or []:
        if not isinstance(option, dict):
            return None
        name, value = option.get("name"), option.get("value")
        if isinstance(name, str) and isinstance(value, str):
            options[name] = value[:MAX_OPTION_LENGTH]
    guild_id = interaction.get("guild_id")
    if not (isinstance(guild_id, str) and SNOWFLAKE.match(guild_id)):
        guild_id = None
    return Command(interaction_id, data["name"], options, user_id, guild_id)


def message(
    content: str, embeds: list[dict[str, Any]] | None = None, *, ephemeral: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {"content": content, "allowed_mentions": {"parse": []}}
    if embeds:
        data["embeds"] = embeds
    if ephemeral:
        data["flags"] = EPHEMERAL
    return {"type": CHANNEL_MESSAGE_WITH_SOURCE, "data": data}


def media_embed(media: dict[str, Any]) -> dict[str, Any]:
    """An embed of an AniList Media: title, link, a short description and the key facts."""
    title = media.get("title") or {}
    name = title.get("english") or title.get("romaji") or "Untitled"
    description = re.sub(r"<[^>]+>", "", str(media.get("description") or ""))
    if len(description) > DESCRIPTION_LIMIT:
        description = description[: DESCRIPTION_LIMIT - 1].rstrip() + "…"
    facts = {
        "Format": media.get("format"),
        "Episodes": media.get("episodes"),
        "Score": f"{media['averageScore']}%" if media.get("averageScore") else None,
        "Genres": ", ".join(media.get("genres") or []) or None,
    }
    return {
        "title": name,
        "url": media.get("siteUrl"),
        "description": description,
        "fields": [
            {"name": key, "value": str(value), "inline": True}
            for key, value in facts.items()
            if value is not None
        ],
        "footer": {"text": f"AniList · {title.get('romaji') or name}"},
    }
