// A small pool of persistent threads for the native kernels. One parallel region runs at a time
// (Node worker threads that call in concurrently queue for it); the calling thread takes part as
// thread 0. Compiled once, for the baseline (native/threadPool.cc), and shared by every path.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace evolve {

class ThreadPool {
 public:
  static constexpr int kMaxThreads = 64;

  ~ThreadPool();

  /** Runs f(task, thread) for task in [0, tasks) on up to `threads` threads. */
  void run(int tasks, int threads, const std::function<void(int, int)>& f);

 private:
  void grow(int helpers);
  void loop(int id, uint64_t seen);
  void work(int thread);

  std::mutex region_, mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<int> next_{0}, remaining_{0};
  int tasks_ = 0, helpers_ = 0;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
};

/** The process's pool (never destroyed: its threads may outlive static destruction order). */
ThreadPool& threadPool();

}  // namespace evolve
