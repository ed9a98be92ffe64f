// Where the OpenMP worker threads run.
//
// oneDNN splits each primitive evenly over the OpenMP team and waits for the slowest thread. After
// the process has been idle for ~100 ms, Linux may wake a worker on the CPU of the thread that woke
// it (notably on virtual machines whose vCPUs each report their own last-level cache, so the
// scheduler does not look for the idle sibling), and both then share one CPU until the load
// balancer separates them: a ResNet-18 batch-1 forward after a 300 ms pause took 17-18 ms instead of
// 9-10 on 2 vCPUs. Pinning each worker to its own CPU removes that; the calling (JS) thread stays
// free, as onnxruntime leaves the caller's thread alone.
#include "common.h"

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace resnet_native {

// Pins OpenMP thread t (t >= 1) to the t-th CPU this process may use, when the team has one thread
// per usable CPU (a smaller team shares the machine with others: leave it to the scheduler).
// Returns the CPU of every thread (-1: not pinned); an empty array when nothing was pinned.
Napi::Value PinWorkerThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<int> pinned;
#if defined(__linux__) && defined(_OPENMP)
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    const int threads = omp_get_max_threads();
    if (threads > 1 && threads == static_cast<int>(cpus.size())) {
      pinned.assign(threads, -1);
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        if (t > 0) {
          cpu_set_t one;
          CPU_ZERO(&one);
          CPU_SET(cpus[t], &one);
          if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0) pinned[t] = cpus[t];
        }
      }
    }
  }
#endif
  Napi::Array out = Napi::Array::New(env, pinned.size());
  for (size_t i = 0; i < pinned.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, pinned[i]));
  return out;
}

}  // namespace resnet_native
