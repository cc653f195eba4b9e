// Native tests of the worker pool: every task of a parallel_for runs exactly
// once and none is still running when it returns, also right after
// set_num_threads() restarted the workers. That restart used to let a new
// worker take the previous job's generation as new work: under a slow thread
// start (qemu-aarch64) it decremented the count of busy workers twice, so a
// parallel_for returned while a task still ran, or waited forever.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "addernet.h"
#include "check.h"
#include "thread_pool.h"

namespace {

// A hang is a failure with a message, not a ctest timeout minutes later.
void watchdog(std::chrono::seconds limit) {
  std::thread([limit] {
    std::this_thread::sleep_for(limit);
    std::printf("FAIL the thread pool test hung (more than %lld s)\n", static_cast<long long>(limit.count()));
    std::fflush(stdout);
    std::_Exit(1);
  }).detach();
}

// One parallel_for of `tasks` tasks: each runs once, none outlives the call.
bool one_job(size_t tasks, int spin) {
  std::vector<std::atomic<int>> runs(tasks);
  std::atomic<int> in_flight{0};
  adn::ThreadPool::Session ses(adn::ThreadPool::instance());
  ses.parallel_for(tasks, [&](size_t t, int worker) {
    in_flight.fetch_add(1);
    volatile int sink = 0;
    for (int i = 0; i < spin * (1 + worker); ++i) sink = sink + i;
    runs[t].fetch_add(1);
    in_flight.fetch_sub(1);
  });
  bool ok = in_flight.load() == 0;
  for (auto& r : runs) ok = ok && r.load() == 1;
  return ok;
}

}  // namespace

int main() {
  watchdog(std::chrono::seconds(120));
  bool ok = true;
  for (int i = 0; i < 300 && ok; ++i) {
    // A restart, then a job at once: the new workers are still starting.
    adn::set_num_threads(2 + i % 3);
    ok = one_job(size_t(1 + i % 40), 2000) && one_job(64, 500);
  }
  expect_true(ok, "each task once and none running after parallel_for, right after set_num_threads");
  ok = true;
  adn::set_num_threads(3);
  for (int i = 0; i < 2000 && ok; ++i) ok = one_job(size_t(2 + i % 7), 100);
  expect_true(ok, "back-to-back jobs on the same workers");
  return report();
}
