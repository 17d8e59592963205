// main() for test executables that need root (BPF, netns, XDP). Without root
// they skip with a reason (ctest SKIP_RETURN_CODE 77); under
// XLANE_REQUIRE_PRIV=1, as CI runs, a skip is a failure.
#define CATCH_CONFIG_RUNNER
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (::geteuid() != 0) {
        const char* require = std::getenv("XLANE_REQUIRE_PRIV");
        const bool required = require != nullptr && std::strcmp(require, "1") == 0;
        std::fprintf(stderr, "%s: needs root (BPF, network namespaces, XDP)%s\n", argv[0],
                     required ? " and XLANE_REQUIRE_PRIV=1 forbids skipping: FAIL" : ": SKIPPED");
        return required ? 1 : 77;
    }
    return Catch::Session().run(argc, argv);
}
