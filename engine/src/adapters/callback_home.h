// Where a callback that finishes work started on an event loop runs.
//
// A request's state (its parsed request, response and responder) is
// allocated on the HTTP event loop that read it. When another thread
// finishes its work (the audit spool's writer, once the record is durable),
// running the completion there would also free that state there, so every
// request would cross threads in the allocator. Instead the finishing thread
// hands the completions back to the thread they came from, many in one post.
// A thread that runs such callbacks (an event loop) registers itself as its
// own home; work started on any other thread has no home and is completed
// where it finishes.
#pragma once

#include <functional>

namespace pricing::engine {

// A thread that runs callbacks posted to it from other threads.
class CallbackHome {
 public:
  virtual ~CallbackHome() = default;
  // Runs `work` on the home's thread, later. Callable from any thread.
  virtual void Post(std::function<void()> work) = 0;
};

// Returns the calling thread's home, or null.
CallbackHome* ThisThreadHome();

// Makes `home` the calling thread's home (null: none). REQUIRES: `home`
// outlives every callback handed to it, and runs on this thread.
void SetThisThreadHome(CallbackHome* home);

}  // namespace pricing::engine
