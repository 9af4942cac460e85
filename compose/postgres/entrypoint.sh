#!/bin/sh
# PostgreSQL in the container. On the first start: the cluster, then the superuser's
# password, the stack's role and database, in single-user mode (nothing listens until they
# exist). The cluster is the image's (initdb'd at build time, marked TEMPLATE_MARK, with a
# password nobody kept) when the initdb options match; else an initdb here (an empty data
# folder, or other options). Then the server, on every address of the container, password
# (SCRAM) authentication only. Secrets come from the environment (with-secrets):
#   POSTGRES_PASSWORD      the superuser `postgres`'s password (required)
#   POSTGRES_APP_PASSWORD  the stack's role's password (required with POSTGRES_APP_USER)
# and settings from plain variables:
#   POSTGRES_APP_USER, POSTGRES_APP_DB   the stack's role and database (optional)
#   POSTGRES_INITDB_ARGS   more initdb options (`--no-sync` for a throwaway database)
# Arguments are more server options: `-c name=value ...`.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"

fail() {
    echo "postgres-entrypoint: $*" >&2
    exit 1
}

identifier() {  # a plain SQL identifier, or a clear refusal (no quoting games)
    case $1 in
        "" | [!a-z_]* | *[!a-z0-9_]*) fail "$2 must be a lower-case SQL identifier, got '$1'" ;;
    esac
    printf '%s' "$1"
}

literal() {  # a SQL string literal
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

TEMPLATE_MARK="$PGDATA/.stackproof-template"  # holds the initdb options it was made with

initialise() {  # $1: initdb's options; the cluster only, with a password nobody keeps
    password_file=$(mktemp)
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$password_file"
    # shellcheck disable=SC2086  # the options are a list
    initdb --pgdata="$PGDATA" --pwfile="$password_file" --username=postgres \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C \
        $1 >/dev/null
    rm -f "$password_file"
    # Clients come from other containers, through the project network: any address, but
    # always with a password.
    printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
}

if [ "${1:-}" = "--template" ]; then  # at image build time
    initialise "${POSTGRES_INITDB_ARGS:-}"
    printf '%s\n' "${POSTGRES_INITDB_ARGS:-}" >"$TEMPLATE_MARK"
    exit 0
fi

fresh=""
if [ -e "$TEMPLATE_MARK" ] && [ "$(cat "$TEMPLATE_MARK")" != "${POSTGRES_INITDB_ARGS:-}" ]; then
    find "$PGDATA" -mindepth 1 -delete  # the image's cluster, made with other options
fi
if [ -e "$TEMPLATE_MARK" ]; then
    fresh="the image's cluster"
elif [ ! -s "$PGDATA/PG_VERSION" ]; then
    initialise "${POSTGRES_INITDB_ARGS:-}"
    fresh="a new cluster"
fi

if [ -n "$fresh" ]; then
    : "${POSTGRES_PASSWORD:?the superuser password is missing: give the container the postgres_password secret}"
    statements="ALTER ROLE postgres PASSWORD $(literal "$POSTGRES_PASSWORD");"
    if [ -n "${POSTGRES_APP_USER:-}" ]; then
        : "${POSTGRES_APP_PASSWORD:?the role's password is missing: give the container the postgres_app_password secret}"
        user=$(identifier "$POSTGRES_APP_USER" POSTGRES_APP_USER)
        database=$(identifier "${POSTGRES_APP_DB:-$POSTGRES_APP_USER}" POSTGRES_APP_DB)
        statements="$statements
CREATE ROLE \"$user\" LOGIN PASSWORD $(literal "$POSTGRES_APP_PASSWORD");
CREATE DATABASE \"$database\" OWNER \"$user\";"
    fi
    # Single-user mode exits 0 whatever a statement did: its errors are looked for. The
    # statements go in on standard input (one per line), never on a command line.
    errors=$(mktemp)
    printf '%s\n' "$statements" \
        | postgres --single -D "$PGDATA" -c unix_socket_directories= postgres >/dev/null 2>"$errors"
    if grep -q 'ERROR' "$errors"; then
        grep 'ERROR' "$errors" | sed 's/PASSWORD .*/PASSWORD (not shown)/' >&2
        fail "could not set the superuser's password, or create the role and the database"
    fi
    rm -f "$errors" "$TEMPLATE_MARK"
    echo "postgres-entrypoint: initialised $PGDATA ($fresh)" >&2
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 -c unix_socket_directories= "$@"
