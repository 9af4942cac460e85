#!/bin/sh
# PostgreSQL in the container. On the first start (an empty data folder): initdb with the
# superuser's password, then the stack's role and database, in single-user mode (nothing
# listens until they exist). Then the server, on every address of the container, password
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

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?the superuser password is missing: give the container the postgres_password secret}"
    password_file=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options
    initdb --pgdata="$PGDATA" --pwfile="$password_file" --username=postgres \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C \
        ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$password_file"
    # Clients come from other containers, through the project network: any address, but
    # always with a password.
    printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
    if [ -n "${POSTGRES_APP_USER:-}" ]; then
        : "${POSTGRES_APP_PASSWORD:?the role's password is missing: give the container the postgres_app_password secret}"
        user=$(identifier "$POSTGRES_APP_USER" POSTGRES_APP_USER)
        database=$(identifier "${POSTGRES_APP_DB:-$POSTGRES_APP_USER}" POSTGRES_APP_DB)
        # Single-user mode exits 0 whatever a statement did: its errors are looked for.
        errors=$(mktemp)
        postgres --single -D "$PGDATA" -c unix_socket_directories= postgres >/dev/null 2>"$errors" <<SQL
CREATE ROLE "$user" LOGIN PASSWORD $(literal "$POSTGRES_APP_PASSWORD");
CREATE DATABASE "$database" OWNER "$user";
SQL
        if grep -q 'ERROR' "$errors"; then
            grep 'ERROR' "$errors" >&2
            fail "could not create the role $user and the database $database"
        fi
        rm -f "$errors"
    fi
    echo "postgres-entrypoint: initialised $PGDATA" >&2
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c port=5432 -c unix_socket_directories= "$@"
