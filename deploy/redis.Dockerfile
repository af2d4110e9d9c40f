# Redis 7 for medscribe: AOF persistence and one ACL user per service. The ACL file is
# rendered at start from users.acl with the passwords' SHA-256 hashes (never plain text).
FROM redis:7

COPY deploy/redis.conf /usr/local/etc/redis/redis.conf
COPY deploy/users.acl /usr/local/etc/redis/users.acl.template
COPY deploy/redis-entrypoint.sh /usr/local/bin/medscribe-redis-entrypoint
RUN chmod 0755 /usr/local/bin/medscribe-redis-entrypoint

USER redis
WORKDIR /data
ENTRYPOINT ["medscribe-redis-entrypoint"]
CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]
