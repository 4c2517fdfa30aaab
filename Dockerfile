# One image for every StreetLab service; the compose file picks the command.
# Build: docker build -t streetlab .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx vite build --config dashboard/vite.config.ts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY contracts ./contracts
COPY common ./common
COPY broker ./broker
COPY ingest ./ingest
COPY api ./api
COPY simulators ./simulators
COPY tsconfig.json ./
COPY --from=build /app/dist/dashboard ./dist/dashboard
# The services' state: device registry, the reading log the broker writes and ingest drains,
# MQTT sessions. docker-compose.yml mounts the streetlab-data volume here; a new named volume
# takes this directory's owner, so the services, running as node, can write to it.
RUN mkdir -p /data && chown node:node /data
ENV DATA_DIR=/data
USER node
# Services run TypeScript directly through tsx (a runtime dependency).
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["api/main.ts"]
