// The per-thread buffer cache (buffer_cache.hpp).
#include "autograd/buffer_cache.hpp"

#include <cstdint>
#include <cstdlib>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define XGRAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XGRAD_ASAN 1
#endif
#endif
#ifdef XGRAD_ASAN
#include <sanitizer/asan_interface.h>
#define XGRAD_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define XGRAD_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define XGRAD_POISON(p, n) ((void)(p), (void)(n))
#define XGRAD_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace xgrad::buffer_cache {

namespace {

// Size classes: 64 bytes, then four to each doubling (80, 96, 112, 128, 160,
// ... kLargest), so a buffer wastes at most a quarter of its class.
constexpr int log2_of(std::size_t power_of_two) {
    int k = 0;
    while ((std::size_t{1} << k) < power_of_two) ++k;
    return k;
}
constexpr int kClasses = 1 + 4 * (log2_of(kLargest) - 6);

int floor_log2(std::size_t x) { return 63 - __builtin_clzll(static_cast<unsigned long long>(x)); }

// The class of a request of `bytes` (<= kLargest) and that class's size.
struct SizeClass {
    int index;
    std::size_t bytes;
};
SizeClass size_class(std::size_t bytes) {
    if (bytes <= 64) return {0, 64};
    const int k = floor_log2(bytes - 1);  // 2^k < bytes <= 2^(k+1), k >= 6
    const std::size_t step = std::size_t{1} << (k - 2);
    const std::size_t rounded = (bytes + step - 1) & ~(step - 1);
    const int quarter = static_cast<int>((rounded - (std::size_t{1} << k)) / step) - 1;  // 0..3
    return {1 + 4 * (k - 6) + quarter, rounded};
}

// The size of class `index` (size_class's inverse).
std::size_t size_class_bytes(int index) {
    if (index == 0) return 64;
    const int k = 6 + (index - 1) / 4, quarter = (index - 1) % 4;
    return (std::size_t{1} << k) + static_cast<std::size_t>(quarter + 1) * (std::size_t{1} << (k - 2));
}

// From the heap, aligned by hand: malloc's block is kAlignment bytes longer
// and the pointer malloc gave sits just below the aligned one. (posix_memalign
// aligns by splitting off and freeing the block's head: at the lecture's size
// those small free scraps sat between big freed buffers and kept glibc from
// merging them.) Under AddressSanitizer, posix_memalign: its blocks are
// exactly the buffer, so a read just before or past one is still reported.
#ifdef XGRAD_ASAN
void* heap_alloc(std::size_t bytes) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, bytes == 0 ? kAlignment : bytes) != 0) throw std::bad_alloc();
    return p;
}

void heap_free(void* p) { std::free(p); }
#else
void* heap_alloc(std::size_t bytes) {
    if (bytes > SIZE_MAX - kAlignment) throw std::bad_alloc();
    void* raw = std::malloc(bytes + kAlignment);
    if (raw == nullptr) throw std::bad_alloc();
    const auto aligned = (reinterpret_cast<std::uintptr_t>(raw) + kAlignment) & ~(kAlignment - 1);
    void* p = reinterpret_cast<void*>(aligned);
    static_cast<void**>(p)[-1] = raw;
    return p;
}

void heap_free(void* p) { std::free(static_cast<void**>(p)[-1]); }
#endif

struct Cache {
    std::vector<void*> free_lists[kClasses];
    std::size_t cached_bytes = 0;
    std::size_t reused = 0;
    ~Cache();
};

// Set when this thread's cache is gone (thread exit): from then on straight to the heap.
thread_local bool t_gone = false;

Cache::~Cache() {
    for (int c = 0; c < kClasses; ++c) {
        for (void* p : free_lists[c]) {
            XGRAD_UNPOISON(p, size_class_bytes(c));
            heap_free(p);
        }
    }
    t_gone = true;
}

Cache* this_thread() {
    if (t_gone) return nullptr;
    static thread_local Cache cache;
    return &cache;
}

}  // namespace

void* take(std::size_t bytes) {
    if (bytes > kLargest) return heap_alloc(bytes);
    const SizeClass c = size_class(bytes);
    if (Cache* cache = this_thread()) {
        std::vector<void*>& list = cache->free_lists[c.index];
        if (!list.empty()) {
            void* p = list.back();
            list.pop_back();
            cache->cached_bytes -= c.bytes;
            ++cache->reused;
            XGRAD_UNPOISON(p, c.bytes);
            return p;
        }
    }
    return heap_alloc(c.bytes);
}

void give(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    if (bytes <= kLargest) {
        const SizeClass c = size_class(bytes);
        Cache* cache = this_thread();
        if (cache != nullptr && cache->cached_bytes + c.bytes <= kThreadLimit) {
            try {
                cache->free_lists[c.index].push_back(p);
                cache->cached_bytes += c.bytes;
                XGRAD_POISON(p, c.bytes);
                return;
            } catch (...) {
                // no room for the pointer: to the heap
            }
        }
    }
    heap_free(p);
}

Counts counts() {
    Cache* cache = this_thread();
    if (cache == nullptr) return {};
    return {cache->reused, cache->cached_bytes};
}

}  // namespace xgrad::buffer_cache
