// Where an Array's elements live: a per-thread cache of freed buffers in front
// of the C heap.
//
// A training step allocates the same few hundred buffers every step (each op's
// output, each gradient) and frees them all by its end. At the tiny preset
// they are 1-130 KB each, too big for glibc's per-thread tcache, so every one
// went through malloc's arena, its bins and its lock: 10% of a two-thread
// step's samples in perf. Here a freed buffer goes on a list of its thread,
// one list per size class, and the next request of that class takes it back
// without a lock. Buffers above kLargest bytes go to the heap as before: a
// lecture-size buffer's work dwarfs its malloc.
//
// Buffers come from the heap aligned by hand (buffer_cache.cpp), not by
// posix_memalign (kept only under the sanitizers): at the lecture's size memalign's freed scraps kept glibc
// from merging big freed buffers. Against the build before this cache, in
// alternating lecture runs: peak RSS 4.39-4.43 GB against 3.94-4.01 and a
// step 7% slower (medians) with memalign; 3.73-3.75 GB against 3.88-3.96 and
// no slower (5.12 s against 5.25) aligned by hand.
//
// Under AddressSanitizer a cached buffer is poisoned until it is handed out
// again, so a read of a freed Array is still reported.
#pragma once

#include <cstddef>
#include <new>

namespace xgrad {

namespace buffer_cache {

constexpr std::size_t kAlignment = 64;         // one cache line, an AVX-512 register
constexpr std::size_t kLargest = 1 << 20;      // bytes: bigger buffers are not cached
constexpr std::size_t kThreadLimit = 32 << 20; // bytes cached by one thread at most

// At least `bytes` bytes, aligned to kAlignment; throws std::bad_alloc.
void* take(std::size_t bytes);
// Back to the calling thread's cache (or the heap): `bytes` as given to take.
void give(void* p, std::size_t bytes) noexcept;

// This thread's counts, for the tests.
struct Counts {
    std::size_t reused = 0;        // takes served from the cache
    std::size_t cached_bytes = 0;  // what the cache holds now (rounded sizes)
};
Counts counts();

}  // namespace buffer_cache

// The allocator of every Array (tensor.hpp): buffer_cache as a std allocator.
template <class T>
struct CachedAllocator {
    using value_type = T;

    CachedAllocator() = default;
    template <class U>
    CachedAllocator(const CachedAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
        return static_cast<T*>(buffer_cache::take(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { buffer_cache::give(p, n * sizeof(T)); }

    template <class U>
    struct rebind {
        using other = CachedAllocator<U>;
    };
};

template <class T, class U>
bool operator==(const CachedAllocator<T>&, const CachedAllocator<U>&) noexcept {
    return true;  // any instance frees what any other allocated
}
template <class T, class U>
bool operator!=(const CachedAllocator<T>&, const CachedAllocator<U>&) noexcept {
    return false;
}

}  // namespace xgrad
