// The cross-compiling targets of the build scripts (Linux hosts): Node's arch
// name -> GNU triplet, whose CMake toolchain file is cmake/<triplet>.cmake.
'use strict';
const path = require('node:path');

const TRIPLETS = { arm64: 'aarch64-linux-gnu' };

/** null for this machine's own arch; else the cross toolchain, or exits with a message. */
function crossTarget(arch, who) {
  if (!arch || arch === process.arch) return null;
  const triplet = process.platform === 'linux' ? TRIPLETS[arch] : undefined;
  if (!triplet) {
    console.error(`${who}: cannot cross-compile for ${process.platform}-${arch} on ${process.platform}-${process.arch} ` +
      `(linux hosts can target: ${Object.keys(TRIPLETS).join(', ')})`);
    process.exit(2);
  }
  return {
    triplet,
    toolchainFile: path.join(__dirname, '..', 'cmake', `${triplet}.cmake`),
    compiler: `${triplet}-g++`,
    strip: `${triplet}-strip`,
    emulator: `qemu-${triplet.split('-')[0]}-static`, // qemu-user-static, for the native tests
  };
}

module.exports = { crossTarget };
