FROM node:20-slim AS base
ENV NODE_ENV production
ENV PORT=3000 \
    NPM_CONFIG_LOGLEVEL=warn \
    APP_NAME="node app"
WORKDIR /app

FROM base AS deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    --mount=type=secret,id=npmrc,target=/root/.npmrc,required=true \
    npm ci --omit=dev

FROM base
MAINTAINER Example Maintainer <maintainer@example.com>
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=deps /app/node_modules ./node_modules
COPY [ "src", "./src/" ]
ADD --chown=node:node https://example.com/robots.txt /app/public/
VOLUME ["/app/data"]
EXPOSE ${PORT}
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://localhost:${PORT}/health || exit 1
ONBUILD COPY . /app/extra
ONBUILD RUN npm run postinstall
USER node
CMD ["node", "src/index.js"]
