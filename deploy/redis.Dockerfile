# Redis 7 for medscribe: AOF persistence and one ACL user per service. The ACL file is
# rendered at start from users.acl with the passwords' SHA-256 hashes (never plain text).
# Pinned to a 7.4 release with the 2025 Lua fixes (CVE-2025-49844 and others): every
# service runs Lua scripts. Raise it with each Redis security release.
FROM redis:7.4.6

COPY deploy/redis.conf /usr/local/etc/redis/redis.conf
COPY deploy/users.acl /usr/local/etc/redis/users.acl.template
COPY deploy/redis-entrypoint.sh /usr/local/bin/medscribe-redis-entrypoint
COPY deploy/redis-healthcheck.sh /usr/local/bin/medscribe-redis-healthcheck
RUN chmod 0755 /usr/local/bin/medscribe-redis-entrypoint /usr/local/bin/medscribe-redis-healthcheck

USER redis
WORKDIR /data
ENTRYPOINT ["medscribe-redis-entrypoint"]
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
