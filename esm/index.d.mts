// Types of esm/index.mjs: the same declarations as the CommonJS entry.
import * as addernet from '../dist/lib/index.js';
export * from '../dist/lib/index.js';
export default addernet;
