#include "train/cli/heap.hpp"

#include <cstdlib>
#include <fstream>
#include <climits>
#include <malloc.h>
#include <sys/auxv.h>
#include <unistd.h>

namespace xgrad {

namespace {

constexpr const char* kTunable = "glibc.malloc.hugetlb";
constexpr const char* kRerunMark = "XGRAD_HEAP_RERUN";  // set for the re-run only, and removed by it

// The kernel's setting, the bracketed word of "always [madvise] never".
std::string kernel_huge_pages() {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    std::getline(in, line);
    const auto open = line.find('['), close = line.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open) return "";
    return line.substr(open + 1, close - open - 1);
}

std::string tunables() {
    const char* value = std::getenv("GLIBC_TUNABLES");
    return value ? value : "";
}

}  // namespace

void rerun_with_huge_pages(char** argv) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // The sanitizers' own allocators ignore glibc's tunables.
    (void)argv;
#else
    // This is the re-run: go on, whatever glibc made of the tunable (in
    // secure mode, setuid or file capabilities, it drops it: without this
    // mark the program would run itself again forever).
    if (std::getenv(kRerunMark)) {
        unsetenv(kRerunMark);
        return;
    }
    // Not for `xgrad serve`: its requests would wait on the first touch of
    // fresh huge pages (seconds a GB on this VM), and under load a test's 16
    // concurrent clients saw connections reset (3 runs in 11; none in 6 without).
    if (argv[0] && argv[1] && std::string(argv[1]) == "serve") return;
    const std::string given = tunables();
    if (getauxval(AT_SECURE) || given.find(kTunable) != std::string::npos || kernel_huge_pages() != "madvise") return;
    // The program's own path, not /proc/self/exe, whose name ("exe") the
    // process would take (ps, top, pgrep).
    char path[PATH_MAX];
    const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0) return;
    path[length] = '\0';
    const std::string wanted = (given.empty() ? "" : given + ":") + kTunable + "=1";
    if (setenv("GLIBC_TUNABLES", wanted.c_str(), 1) != 0 || setenv(kRerunMark, "1", 1) != 0) return;
    execv(path, argv);
    // Only reached when the re-run could not start: go on without.
    unsetenv(kRerunMark);
    if (given.empty()) unsetenv("GLIBC_TUNABLES");
    else setenv("GLIBC_TUNABLES", given.c_str(), 1);
#endif
}

std::string huge_pages_description() {
    const std::string kernel = kernel_huge_pages(), given = tunables();
    const std::string settings = "kernel: " + (kernel.empty() ? std::string("unknown") : kernel) +
                                 (given.empty() ? "" : ", GLIBC_TUNABLES=" + given);
    const std::string line = "transparent huge pages for the heap: ";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return line + "no, the sanitizer's allocator (" + settings + ")";
#else
    const bool asked = kernel == "always" || (kernel == "madvise" && given.find(std::string(kTunable) + "=1") !=
                                                                         std::string::npos);
    return line + (asked ? "yes" : "no") + " (" + settings + ")";
#endif
}

void keep_freed_memory() {
    // Keep freed activation buffers in the heap for the next step instead of
    // returning them to the kernel and taking page faults on every step
    // (measured here: a fresh 32 MB buffer cost 14.6 ms with glibc's
    // defaults, 0.4 ms with these thresholds). -1 never trims: a lecture-size
    // step frees gigabytes at once, more than any finite threshold here.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, -1);
    // The trim threshold covers the main thread's heap only. A second
    // thread's arena lives in heaps of 64 MB that glibc gives back whole (or
    // shrinks) when they empty unless that much padding is asked for: at the
    // lecture's size with two threads (each running half the batch) that was
    // ~26 brk, ~31 mprotect, ~35 madvise and ~10 mmap/munmap calls and ~19,000
    // page faults a step; with this pad none of those calls and ~60 faults a
    // step (strace, /usr/bin/time of 2 steps against 4).
    mallopt(M_TOP_PAD, 64 << 20);
    // No fastbins: with them, every larger request first consolidated the
    // small freed blocks (malloc_consolidate, ~5% of a one-thread tiny step
    // in perf); without, tiny trains about 4% faster (docs/performance.md).
    mallopt(M_MXFAST, 0);
}

}  // namespace xgrad
