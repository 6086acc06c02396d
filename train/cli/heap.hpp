// The heap, set up first thing in main: huge pages, and glibc's thresholds.
#pragma once

#include <string>

namespace xgrad {

// When the kernel hands transparent huge pages only to memory that asks for
// them (/sys/kernel/mm/transparent_hugepage/enabled is "[madvise]", Debian's
// default), runs this program again, same arguments, with
// glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES, so that malloc asks: glibc
// reads its tunables only when a program starts. Returns (and the program
// goes on as it is) when the kernel gives huge pages always or never, when
// GLIBC_TUNABLES names glibc.malloc.hugetlb already (=0 turns it off), for
// `xgrad serve` (a request would wait on fresh huge pages' first touch), in
// secure mode (setuid), under a sanitizer, or when the re-run cannot start.
// Measured in docs/performance.md.
void rerun_with_huge_pages(char** argv);

// One line for --version: whether malloc asks for huge pages, and why.
std::string huge_pages_description();

// Keeps freed activation buffers in the heap for the next step.
void keep_freed_memory();

}  // namespace xgrad
