// The per-thread cache of Array buffers (autograd/buffer_cache.hpp).
#include "autograd/buffer_cache.hpp"
#include "autograd/tensor.hpp"
#include "nn/module.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

using namespace xgrad;
namespace cache = xgrad::buffer_cache;

namespace {
bool aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % cache::kAlignment == 0; }
}  // namespace

TEST_CASE("a freed buffer comes back for the next request of its size class, on the same thread") {
    void* a = cache::take(1000);
    CHECK(aligned(a));
    const cache::Counts before = cache::counts();
    cache::give(a, 1000);
    CHECK(cache::counts().cached_bytes == before.cached_bytes + 1024);  // 1000 rounds up to its class, 1024
    void* b = cache::take(1010);  // the same class
    CHECK(b == a);
    CHECK(cache::counts().reused == before.reused + 1);
    CHECK(cache::counts().cached_bytes == before.cached_bytes);
    // another class does not take it
    cache::give(b, 1010);
    void* c = cache::take(2000);
    CHECK(c != b);
    CHECK(aligned(c));
    cache::give(c, 2000);
    void* d = cache::take(1024);
    CHECK(d == b);
    cache::give(d, 1024);
}

TEST_CASE("buffers above the largest class and beyond the thread's limit go back to the heap") {
    const cache::Counts start = cache::counts();
    void* big = cache::take(cache::kLargest + 1);
    CHECK(aligned(big));
    cache::give(big, cache::kLargest + 1);
    CHECK(cache::counts().cached_bytes == start.cached_bytes);

    // fill the cache to its limit with 1 MB buffers: the ones past it are freed
    std::vector<void*> held;
    const std::size_t room = (cache::kThreadLimit - start.cached_bytes) / cache::kLargest;
    for (std::size_t i = 0; i < room + 3; ++i) held.push_back(cache::take(cache::kLargest));
    for (void* p : held) cache::give(p, cache::kLargest);
    CHECK(cache::counts().cached_bytes <= cache::kThreadLimit);
    CHECK(cache::counts().cached_bytes == start.cached_bytes + room * cache::kLargest);
    // and they come back out again
    for (std::size_t i = 0; i < room; ++i) held[i] = cache::take(cache::kLargest);
    CHECK(cache::counts().cached_bytes == start.cached_bytes);
    for (std::size_t i = 0; i < room; ++i) cache::give(held[i], cache::kLargest);
}

TEST_CASE("each thread has its own cache: a buffer freed on another thread stays there") {
    void* a = cache::take(5000);
    const cache::Counts here = cache::counts();
    cache::Counts there_before, there_after;
    void* taken_there = nullptr;
    std::thread other([&] {
        there_before = cache::counts();
        cache::give(a, 5000);  // into the other thread's cache
        there_after = cache::counts();
        taken_there = cache::take(5000);
        cache::give(taken_there, 5000);
    });
    other.join();  // its cache goes with it, back to the heap
    CHECK(there_after.cached_bytes == there_before.cached_bytes + 5120);
    CHECK(taken_there == a);
    CHECK(cache::counts().cached_bytes == here.cached_bytes);  // this thread's is untouched
}

TEST_CASE("an Array takes its buffer from the cache: the one freed just before, of its size") {
    const Scalar* first = nullptr;
    {
        Array a = Array::from_shape({32, 64});
        first = a.data();
    }
    const std::size_t reused = cache::counts().reused;
    Array b = Array::from_shape({64, 32});  // the same size
    CHECK(b.data() == first);
    CHECK(cache::counts().reused == reused + 1);
    CHECK(aligned(b.data()));
}

#if defined(__SANITIZE_ADDRESS__)
TEST_CASE("under AddressSanitizer a cached buffer is poisoned until it is handed out again") {
    void* a = cache::take(3000);
    CHECK(__asan_address_is_poisoned(a) == 0);
    cache::give(a, 3000);
    CHECK(__asan_address_is_poisoned(a) != 0);  // a read of a freed Array is reported
    CHECK(__asan_address_is_poisoned(static_cast<char*>(a) + 2999) != 0);
    void* b = cache::take(3000);
    REQUIRE(b == a);
    CHECK(__asan_address_is_poisoned(b) == 0);
    CHECK(__asan_address_is_poisoned(static_cast<char*>(b) + 2999) == 0);
    cache::give(b, 3000);
}
#endif

TEST_CASE("split_by_size cuts the parameters into runs of about equal size, in order") {
    nn::NamedTensors params;
    for (std::size_t n : {100, 100, 100, 100, 400, 50, 50, 100})
        params.emplace_back("p", Tensor(Array::from_shape({n})));
    const std::vector<std::size_t> one = nn::split_by_size(params, 1);
    CHECK(one == std::vector<std::size_t>{0, 8});
    const std::vector<std::size_t> two = nn::split_by_size(params, 2);
    CHECK(two == std::vector<std::size_t>{0, 4, 8});  // 400 and 600 elements: the 400 straddles the middle, 500
    const std::vector<std::size_t> four = nn::split_by_size(params, 4);
    REQUIRE(four.size() == 5);
    CHECK(four.front() == 0);
    CHECK(four.back() == 8);
    for (std::size_t t = 0; t + 1 < four.size(); ++t) CHECK(four[t] <= four[t + 1]);
    CHECK(four == std::vector<std::size_t>{0, 2, 4, 5, 8});  // 200, 200, 400, 200
    // more parts than tensors: the extra runs are empty
    const std::vector<std::size_t> many = nn::split_by_size(params, 10);
    CHECK(many.front() == 0);
    CHECK(many.back() == 8);
}
