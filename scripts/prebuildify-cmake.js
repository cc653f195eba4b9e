#!/usr/bin/env node
// prebuildify calls its --node-gyp program as node-gyp: `rebuild --target=X
// --devdir=... --arch=...` etc. Translate that into a cmake-js build and put
// the addon where prebuildify looks for it (build/Release/*.node).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const opt = (name) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : undefined;
};
const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--CDADDERNET_TESTS=OFF'];
const arch = opt('arch');
if (arch) args.push(`--arch=${arch}`);
if (process.env.ADDERNET_CUDA) args.push(`--CDADDERNET_CUDA=${process.env.ADDERNET_CUDA}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
