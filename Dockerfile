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
COPY --from=build /app/dist/dashboard ./dist/dashboard
USER node
# Services run TypeScript directly through tsx (a runtime dependency).
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["api/main.ts"]
