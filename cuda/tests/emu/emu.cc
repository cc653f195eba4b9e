// The emulated launch: one std::thread per CUDA thread of a block; the
// threads walk the blocks of the grid in order, in lockstep at a barrier after
// each block (so `static` shared arrays are never used by two blocks at once).
#include <cuda_runtime.h>
#include <memory>
#include <thread>
#include <vector>
#include <cstdio>
thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
namespace emu {
int g_launches = 0;
static std::barrier<>* g_bar;
struct Warp { std::unique_ptr<std::barrier<>> bar; uint64_t slot[32]; };
static std::vector<Warp>* g_warps;
void syncthreads() { g_bar->arrive_and_wait(); }
void warp_exchange(uint64_t mine, uint64_t* all) {
  Warp& w = (*g_warps)[threadIdx.x / 32];
  w.slot[threadIdx.x % 32] = mine;
  w.bar->arrive_and_wait();
  std::memcpy(all, w.slot, sizeof w.slot);
  w.bar->arrive_and_wait();
}
void launch_impl(dim3 grid, dim3 block, std::function<void()> body) {
  ++g_launches;
  const unsigned nt = block.x;
  if (block.y != 1 || block.z != 1 || grid.x == 0 || grid.y == 0 || grid.z == 0 || nt == 0 || nt > 1024 ||
      grid.y > 65535 || grid.z > 65535) { std::fprintf(stderr, "EMU: bad launch config\n"); std::abort(); }
  std::barrier<> bar(nt);
  std::vector<Warp> warps((nt + 31) / 32);
  for (auto& w : warps) w.bar = std::make_unique<std::barrier<>>(32);
  g_bar = &bar; g_warps = &warps;
  std::vector<std::thread> th;
  for (unsigned t = 0; t < nt; ++t)
    th.emplace_back([&, t] {
      threadIdx = dim3(t); blockDim = block; gridDim = grid;
      for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
          for (unsigned x = 0; x < grid.x; ++x) {
            blockIdx = dim3(x, y, z);
            body();
            bar.arrive_and_wait();
          }
    });
  for (auto& t : th) t.join();
}
}
