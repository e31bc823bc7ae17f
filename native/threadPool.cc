#include "threadPool.h"

#include <algorithm>
#include <chrono>

namespace evolve {

namespace {

/**
 * Spins until `done()` or for about 100 microseconds, whichever comes first. The parallel regions of
 * one training step follow each other within microseconds, and waking a sleeping thread through
 * the condition variable cost about as much as a small network's region; a thread spins this long
 * after each region before it sleeps.
 */
template <typename F>
void spinUntil(F done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
  for (int i = 1; !done(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() > end) return;
  }
}

}  // namespace

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    ++generation_;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run(int tasks, int threads, const std::function<void(int, int)>& f) {
  threads = std::max(1, std::min({threads, tasks, kMaxThreads}));
  if (threads == 1) {
    for (int t = 0; t < tasks; ++t) f(t, 0);
    return;
  }
  std::lock_guard<std::mutex> region(region_);
  grow(threads - 1);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &f;
    tasks_ = tasks;
    next_.store(0);
    helpers_ = threads - 1;
    remaining_ = threads - 1;
    ++generation_;
  }
  wake_.notify_all();
  work(0);
  spinUntil([this] { return remaining_.load() == 0; });
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return remaining_ == 0; });
  job_ = nullptr;
}

void ThreadPool::grow(int helpers) {
  while (static_cast<int>(threads_.size()) < helpers) {
    const int id = static_cast<int>(threads_.size()) + 1;
    // The generation before this region's: the new thread must not miss the region about to start.
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen = generation_;
    }
    threads_.emplace_back([this, id, seen] { loop(id, seen); });
  }
}

void ThreadPool::loop(int id, uint64_t seen) {
  for (;;) {
    spinUntil([&] { return generation_.load() != seen; });
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return generation_ != seen; });
    seen = generation_;
    if (stop_) return;
    if (id > helpers_) continue;  // this region uses fewer threads
    lock.unlock();
    work(id);
    lock.lock();
    if (--remaining_ == 0) done_.notify_one();
  }
}

void ThreadPool::work(int thread) {
  for (int t; (t = next_.fetch_add(1)) < tasks_;) (*job_)(t, thread);
}

ThreadPool& threadPool() {
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

}  // namespace evolve
