# syntax=docker/dockerfile:1.7
# Both stages run the Node release the tests run on (development and CI), pinned to its patch, so the image runs
# what was tested; a floating tag (node:24 until 2026-12-04) shipped a major no test had run on. Node 20 is past its
# end of life (2026-04-30): move the machines' Node and this tag to a supported line together (docs/operations.md).
# Build: dev dependencies and the TypeScript compiler live only in this stage.
FROM node:20.20.2-bookworm-slim AS build
# Native addons (argon2) are compiled here rather than taken prebuilt: argon2's prebuilt linux-x64 binary crashes on
# load on some CPUs (it does on this project's AMD EPYC machines), and an image built on one CPU may run on another.
# node-gyp needs Python, make and a C++ compiler; only this stage has them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --build-from-source
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx nest build && npm prune --omit=dev

# Runtime: production dependencies and compiled JavaScript only, as an unprivileged user. The code stays root's: the
# user can read it, not rewrite it.
FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    METRICS_PORT=9464 \
    BACKUP_DIR=/var/lib/vesta/backups
WORKDIR /app
# Backups need a folder the node user can write (/app is root's); the same path as in the Kubernetes manifests. A
# volume mounted there (docker-compose.yml) starts out with this owner.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/vesta/backups \
 && chown node:node /var/lib/vesta/backups
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000 9464
# tini is PID 1: it forwards SIGTERM to node (which drains, see docs/operations.md) and reaps zombies.
# Probes come from Kubernetes (/health/live, /health/ready), so the image declares no HEALTHCHECK.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
