# The cluster's SIP edge: Debian's Kamailio 5.6 running deploy/kamailio/kamailio.cfg.
# Build from the repository root: docker build -f docker/cluster/kamailio.Dockerfile .
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends kamailio && \
    rm -rf /var/lib/apt/lists/*
COPY deploy/kamailio/kamailio.cfg /etc/kamailio/ringside-edge.cfg
COPY docker/cluster/kamailio-start.sh /usr/local/bin/kamailio-start
USER kamailio
ENTRYPOINT ["sh", "/usr/local/bin/kamailio-start"]
