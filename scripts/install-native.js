#!/usr/bin/env node
// npm install hook: use the addon that loads here (build/Release from an
// earlier build, else the matching prebuilds/<platform>-<arch>/ file, picked by
// node-gyp-build) and compile with cmake-js only when none loads, saying why
// in one line. npm's --build-from-source (npm_config_build_from_source=true)
// or ADDERNET_BUILD_FROM_SOURCE=1 forces the source build.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const say = (line) => console.log(`addernet: ${line}`);
const truthy = (v) => v !== undefined && v !== '' && !/^(0|false|no|off)$/i.test(v);

/** Why a source build is needed, or null when a prebuilt/built addon loads. */
function reasonToBuild() {
  if (truthy(process.env.ADDERNET_BUILD_FROM_SOURCE)) return 'ADDERNET_BUILD_FROM_SOURCE is set';
  if (truthy(process.env.npm_config_build_from_source)) return '--build-from-source (npm_config_build_from_source) is set';
  const load = require('node-gyp-build');
  let file;
  try {
    file = load.resolve(root);
  } catch (err) {
    return `no prebuilt addon for ${process.platform}-${process.arch} (${firstLine(err)})`;
  }
  try {
    require(file);
  } catch (err) {
    return `${path.relative(root, file)} does not load here (${firstLine(err)})`;
  }
  say(`using ${path.relative(root, file)}`);
  return null;
}

function firstLine(err) {
  return String(err instanceof Error ? err.message : err).split('\n')[0].trim();
}

const reason = reasonToBuild();
if (reason === null) process.exit(0);
say(`${reason}; building from source with cmake-js`);
const args = [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--CDADDERNET_TESTS=OFF'];
if (process.env.ADDERNET_CUDA) args.push(`--CDADDERNET_CUDA=${process.env.ADDERNET_CUDA}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  say('the source build failed: it needs CMake >= 3.18 and a C++17 compiler on PATH ' +
      '(prebuilt binaries cover linux-x64 and linux-arm64 with glibc >= 2.34, Node >= 20)');
}
process.exit(r.status ?? 1);
