#!/usr/bin/env bash
# Debian packages the topology test bed needs: the Postgres server binaries (initdb,
# postgres) and redis-server. Installed non-interactively when missing (CI runs as root).
set -euo pipefail
have_postgres() {
    command -v initdb >/dev/null 2>&1 || [ -x /usr/local/bin/initdb ] \
        || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
missing=()
have_postgres || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system-packages: install ${missing[*]} (no apt-get here)" >&2
    exit 1
fi
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
echo "system-packages: installing ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts the services it installs; the bed runs its own on free ports.
for service in postgresql redis-server; do
    if command -v service >/dev/null 2>&1; then "${SUDO[@]}" service "$service" stop >/dev/null 2>&1 || true; fi
done
