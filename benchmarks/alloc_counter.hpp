// Counts the heap allocations each thread makes, by replacing the C
// library's allocation functions (operator new calls malloc, and Asio takes
// handler memory from aligned_alloc when its per-thread cache is empty; C
// libraries such as libmosquitto and OpenSSL call malloc themselves).
//
// Include in ONE translation unit of a program (it defines malloc & co);
// read ctmqtt_bench::thread_allocations before and after the span measured.
// glibc only (__libc_malloc and friends).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace ctmqtt_bench {
inline thread_local std::uint64_t thread_allocations = 0;
}

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);

void* malloc(std::size_t n) noexcept {
    ++ctmqtt_bench::thread_allocations;
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t s) noexcept {
    ++ctmqtt_bench::thread_allocations;
    return __libc_calloc(n, s);
}
void* realloc(void* p, std::size_t n) noexcept {
    ++ctmqtt_bench::thread_allocations;
    return __libc_realloc(p, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) noexcept {
    ++ctmqtt_bench::thread_allocations;
    return __libc_memalign(alignment, n);
}
void* memalign(std::size_t alignment, std::size_t n) noexcept {
    ++ctmqtt_bench::thread_allocations;
    return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) noexcept {
    ++ctmqtt_bench::thread_allocations;
    void* p = __libc_memalign(alignment, n);
    if (p == nullptr)
        return ENOMEM;
    *out = p;
    return 0;
}
}
