#!/bin/sh
# Healthy = Redis answers an authenticated PING with the rendered ACL loaded (the `default`
# user has no usable password, so an anonymous PING only ever gets NOAUTH). The password
# reaches redis-cli through its environment, never its command line.
set -eu
REDISCLI_AUTH=${MEDSCRIBE_REDIS_PASSWORD_ADMIN:?not set}
export REDISCLI_AUTH
reply=$(redis-cli --no-auth-warning --user admin -p "${MEDSCRIBE_REDIS_PORT:-6379}" ping 2>&1 || true)
if [ "$reply" != "PONG" ]; then
    echo "medscribe-redis: not healthy: $reply" >&2
    exit 1
fi
echo PONG
