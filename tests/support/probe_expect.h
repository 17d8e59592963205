// EXPECT for the small probe programs that integration scripts run (outside
// Catch2): a failed check prints the expression, the place and errno, and
// counts; the probe's exit status is then non-zero (g_failures != 0).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>

inline int g_failures = 0;

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "FAIL %s:%d: %s (errno %s)\n", __FILE__, __LINE__, #cond, \
                         strerrorname_np(errno) ? strerrorname_np(errno) : "0");           \
            ++g_failures;                                                                  \
        }                                                                                  \
    } while (0)
