#!/bin/sh
# Render the ACL file: each ${MEDSCRIBE_REDIS_PASSWORD_*} placeholder in the template
# becomes the SHA-256 of that password, so the rendered file holds no plain-text secret.
#
# The `default` user gets every permission and, as its password hash, 32 fresh random bytes
# whose preimage nobody knows: no client can log in as `default` (unauthenticated
# connections get NOAUTH), yet Redis 7.0-7.4 replays MULTI/EXEC blocks and scripts from the
# AOF *as `default`* and silently drops whatever `default` may not run (redis/redis#14541,
# valkey #3983). A `default` limited to PING lost acknowledged data on every restart.
# (`default off` is not enough: Valkey refuses replay for a disabled `default` too.)
set -eu
template=${MEDSCRIBE_REDIS_ACL_TEMPLATE:-/usr/local/etc/redis/users.acl.template}
out=${MEDSCRIBE_REDIS_ACL_FILE:-/data/users.acl}
umask 077
# No placeholder, short or reused password (issue 20): refuse before anything starts.
seen=""
for name in ADMIN CAPTURE BRIDGE EDITOR NOTES; do
    var="MEDSCRIBE_REDIS_PASSWORD_$name"
    eval "value=\${$var:-}"
    case "$value" in *change-me* | changeme | password | secret) problem="is a placeholder" ;;
        *) if [ "${#value}" -lt 16 ]; then problem="is shorter than 16 characters"; else problem=""; fi ;;
    esac
    for other in $seen; do
        eval "prev=\${$other:-}"
        if [ -n "$value" ] && [ "$prev" = "$value" ]; then problem="is the same as $other"; fi
    done
    if [ -n "$value" ] && [ -n "$problem" ]; then
        echo "medscribe-redis: $var $problem; generate one per service: openssl rand -hex 24" >&2
        exit 2
    fi
    seen="$seen $var"
done
cp "$template" "$out.tmp"
for name in ADMIN CAPTURE BRIDGE EDITOR NOTES; do
    var="MEDSCRIBE_REDIS_PASSWORD_$name"
    eval "value=\${$var:-}"
    if [ -z "$value" ]; then
        echo "medscribe-redis: $var is not set (see .env.example)" >&2
        exit 2
    fi
    hash=$(printf '%s' "$value" | sha256sum | cut -d' ' -f1)
    sed -i "s/\${$var}/$hash/" "$out.tmp"
done
unknowable=$(od -An -vtx1 -N32 /dev/urandom | tr -d ' \n')
if [ "${#unknowable}" -ne 64 ]; then
    echo "medscribe-redis: could not read 32 random bytes from /dev/urandom" >&2
    exit 2
fi
sed -i "s/\${MEDSCRIBE_REDIS_DEFAULT_HASH}/$unknowable/" "$out.tmp"
# Rooms' users (`medscribe notes room add`, saved here by ACL SAVE) outlive a restart: keep
# every `user room-...` line of the previous file. Service users always come from the template.
if [ -f "$out" ]; then
    grep '^user room-' "$out" >> "$out.tmp" || true
fi
if grep -q '\${' "$out.tmp"; then
    echo "medscribe-redis: unrendered placeholder left in the ACL template" >&2
    exit 2
fi
mv "$out.tmp" "$out"
exec "$@"
