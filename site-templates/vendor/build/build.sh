#!/usr/bin/env bash
# Rebuilds ../echarts.min.js: Apache ECharts trimmed to the series types,
# components and renderer the pages use (entry.js), bundled by esbuild.
# Versions are pinned exactly in package.json / package-lock.json, so the
# output is byte-for-byte reproducible. Needs Node >= 20 and npm.
#
#   bash site-templates/vendor/build/build.sh
#
# Then update the size and sha256 in ../README.md (printed below).
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund --loglevel=error

# The ECharts license header (kept verbatim in the output).
LICENSE_HEADER='/*
* Licensed to the Apache Software Foundation (ASF) under one
* or more contributor license agreements.  See the NOTICE file
* distributed with this work for additional information
* regarding copyright ownership.  The ASF licenses this file
* to you under the Apache License, Version 2.0 (the
* "License"); you may not use this file except in compliance
* with the License.  You may obtain a copy of the License at
*
*   http://www.apache.org/licenses/LICENSE-2.0
*
* Unless required by applicable law or agreed to in writing,
* software distributed under the License is distributed on an
* "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
* KIND, either express or implied.  See the License for the
* specific language governing permissions and limitations
* under the License.
*/
/* Apache ECharts 6.1.0 (trimmed build for voronka: bar, line, grid,
 tooltip, legend, SVG renderer; see site-templates/vendor/build/entry.js).
 Apache ECharts, Copyright 2017-2026 The Apache Software Foundation.
 This product includes software developed at
 The Apache Software Foundation (https://www.apache.org/). */'

./node_modules/.bin/esbuild entry.js \
  --bundle --minify --format=iife --target=es2019 \
  --legal-comments=inline \
  --banner:js="$LICENSE_HEADER" \
  --log-level=warning \
  --outfile=../echarts.min.js

printf 'Size: %s bytes\n' "$(wc -c < ../echarts.min.js)"
printf 'gzip -9: %s bytes\n' "$(gzip -9 -c ../echarts.min.js | wc -c)"
printf 'sha256: %s\n' "$(sha256sum ../echarts.min.js | cut -d' ' -f1)"
