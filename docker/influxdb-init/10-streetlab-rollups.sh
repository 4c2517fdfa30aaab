#!/bin/bash
# Runs once, after the influxdb:2.7 image's first setup (DOCKER_INFLUXDB_INIT_MODE=setup),
# with the influx CLI already configured with the admin token.
#
# StreetLab reads with InfluxQL and writes its hourly and daily rollups to retention policy
# "rollups" of database "streetlab" (common/influx.ts writes them to bucket "streetlab/rollups").
# InfluxDB 2.x answers InfluxQL through DBRP mappings, so this creates the rollups bucket and
# maps both buckets explicitly: streetlab/autogen (default) → the raw bucket, streetlab/rollups
# → the rollups bucket.
set -euo pipefail

org="${DOCKER_INFLUXDB_INIT_ORG}"
raw="${DOCKER_INFLUXDB_INIT_BUCKET}"
rollups="${raw}/rollups"

influx bucket create --org "${org}" --name "${rollups}" --retention "${STREETLAB_ROLLUP_RETENTION:-43800h}"
rollups_id="$(influx bucket list --org "${org}" --name "${rollups}" --hide-headers | cut -f 1)"

influx v1 dbrp create --org "${org}" --db "${raw}" --rp autogen --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" --default
influx v1 dbrp create --org "${org}" --db "${raw}" --rp rollups --bucket-id "${rollups_id}"
