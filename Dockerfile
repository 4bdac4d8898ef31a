# syntax=docker/dockerfile:1
# Both stages on one pinned Node: the version npm's pinned dev dependency "node" runs the test
# suite on (test/deploy/manifests.test.ts checks they agree). Bump both together.
# Build stage: full dependencies, compile TypeScript.
FROM node:22.23.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The admin console (#18): its TypeScript compiled into dist/console, with uPlot copied beside it.
COPY console ./console
RUN npm run build

# Runtime stage: production dependencies only, non-root.
FROM node:22.23.3-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    GATEWAY_CONFIG=/app/config/gateway.yaml \
    HEALTH_PORT=9090
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The model table only. The config file is mounted (docker compose, a Kubernetes ConfigMap);
# without one, deploy/gateway.yaml serves: no tenant, so no well-known development key in the
# image (#12). Make tenants with the admin API, or mount your own file at $GATEWAY_CONFIG.
COPY config/models.yaml ./config/models.yaml
COPY deploy/gateway.yaml ./config/gateway.yaml
# The embedded SQLite file lives here when DATABASE_URL is unset: mount a volume on it.
RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
# 8080 public (PORT); 9090 health, metrics and admin (server.opsPort of deploy/gateway.yaml).
EXPOSE 8080 9090
# /healthz is on server.opsPort: HEALTH_PORT names it (set it to $PORT for a config without one).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HEALTH_PORT||process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# exec form: node itself gets SIGTERM and drains. node:sqlite is still "experimental" on 22.
# --max-semi-space-size as in package.json's start script (test/bench/start-command.test.ts):
# a young generation of 8 MB, not 16, keeps the peak with 8 answers of 20 MB in flight about
# 35 MB lower, at a CPU cost within this machine's noise (README, Performance).
CMD ["node", "--max-semi-space-size=8", "--disable-warning=ExperimentalWarning", "dist/main.js"]
