# segflow worker image. Build: `docker build -t segflow .`; run: `docker run --rm -e TEMPORAL_ADDRESS=... segflow`
# (the default command is `worker`; any other segflow command works too: `docker run --rm segflow import --help`).

# Node: the newest LTS line CI tests (.ci/run), pinned to the release written in deploy/versions.env
# (NODE_24_VERSION; test/unit/versions.test.ts keeps this default equal to it). Official images:
# https://hub.docker.com/_/node (tags <version>-bookworm-slim).
ARG NODE_VERSION=24.21.0
ARG NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim

# --- build: compile TypeScript and bundle the workflows with the dev toolchain --------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY deploy/bundle-workflows.js ./deploy/bundle-workflows.js
# Compiles to dist/ and writes the workflow bundle the worker loads (dist/workflow-bundle.js).
RUN npm run build

# --- production dependencies only (same lockfile, so the same @temporalio/worker that built the bundle) --------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# The worker loads dist/workflow-bundle.js, made at build time, instead of running webpack at every start
# (src/worker.ts, workflowCode).
# A bounded heap: without it V8 lets garbage from a fast import grow the worker past 400 MB RSS (npm run bench);
# 256 MB of old space and two malloc arenas keep it under ~280 MB for about 10 % more CPU. Raise it for very
# high --concurrency or very large events.
ENV NODE_OPTIONS=--max-old-space-size=256 \
    MALLOC_ARENA_MAX=2
ENV NODE_ENV=production \
    SEGFLOW_REPORT_DIR=/data/reports \
    SEGFLOW_INPUT_ROOTS=/data
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# /data: inputs and reject reports, usually a volume shared by every worker replica.
RUN mkdir -p /data/reports && chown -R node:node /data
# The node image's unprivileged user (uid 1000).
USER node
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["worker"]
