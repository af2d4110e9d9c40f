#!/bin/sh
# Render the ACL file: each ${MEDSCRIBE_REDIS_PASSWORD_*} placeholder in the template
# becomes the SHA-256 of that password, so the rendered file holds no plain-text secret.
set -eu
template=/usr/local/etc/redis/users.acl.template
out=/tmp/users.acl
umask 077
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
mv "$out.tmp" "$out"
exec "$@"
