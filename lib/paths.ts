import fs from 'node:fs';
import path from 'node:path';

/** The package's root folder, whether running from lib/ (tests) or dist/lib/. */
export const packageRoot: string = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`addernet: no package.json above ${__dirname}`);
    dir = parent;
  }
  return dir;
})();
